// MessagePack codec of chat messages (spec sections 3 and 4).
#include <cstdint>
#include <functional>
#include <msgpack.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "chat/message_codec.h"
#include "cmocka_wrap.h"

namespace {

using chat::ClientMessage;
using chat::DecodeClientMessage;
using chat::DecodeOutcome;
using chat::RefusalCode;
using Packer = msgpack::packer<msgpack::sbuffer>;

const std::string kId8 = "\x01\x02\x03\x04\x05\x06\x07\x08";
constexpr uint64_t kTs = 1700000000000;
constexpr uint64_t kMax = 1000;

std::string Pack(const std::function<void(Packer&)>& f) {
  msgpack::sbuffer buffer;
  Packer p(buffer);
  f(p);
  return std::string(buffer.data(), buffer.size());
}
void Str(Packer& p, std::string_view s) {
  p.pack_str(static_cast<uint32_t>(s.size()));
  p.pack_str_body(s.data(), static_cast<uint32_t>(s.size()));
}
void Bin(Packer& p, std::string_view s) {
  p.pack_bin(static_cast<uint32_t>(s.size()));
  p.pack_bin_body(s.data(), static_cast<uint32_t>(s.size()));
}

// {id, ts, body} plus `extra` pairs written by `more` after them.
std::string Message(std::string_view id, uint64_t ts, std::string_view body, uint32_t extra = 0,
                    const std::function<void(Packer&)>& more = {}) {
  return Pack([&](Packer& p) {
    p.pack_map(3 + extra);
    Str(p, "id");
    Bin(p, id);
    Str(p, "ts");
    p.pack(ts);
    Str(p, "body");
    Str(p, body);
    if (more) more(p);
  });
}

DecodeOutcome Decode(std::string_view payload, ClientMessage* m, uint64_t max = kMax) {
  return DecodeClientMessage(payload, max, m);
}

void ExpectRefused(std::string_view payload, RefusalCode code, std::string_view id, uint64_t max = kMax) {
  ClientMessage m;
  DecodeOutcome o = Decode(payload, &m, max);
  if (o.ok) fail_msg("accepted a payload that must be refused");
  assert_int_equal(o.code, code);
  assert_false(o.reason.empty());
  assert_int_equal(o.id.size(), id.size());
  assert_memory_equal(o.id.data(), id.data(), id.size());
}
void ExpectMalformed(std::string_view payload, std::string_view id = {}) {
  ExpectRefused(payload, RefusalCode::kMalformed, id);
}

std::string_view Sv(const msgpack::object& o) {
  if (o.type == msgpack::type::STR) return {o.via.str.ptr, o.via.str.size};
  if (o.type == msgpack::type::BIN) return {o.via.bin.ptr, o.via.bin.size};
  fail_msg("object of type %d is neither str nor bin", static_cast<int>(o.type));
  return {};
}
bool KeyIs(const msgpack::object& k, std::string_view name) {
  return k.type == msgpack::type::STR && Sv(k) == name;
}
const msgpack::object* Find(const msgpack::object& map, std::string_view key) {
  const msgpack::object* found = nullptr;
  for (uint32_t i = 0; i < map.via.map.size; ++i) {
    if (KeyIs(map.via.map.ptr[i].key, key)) {
      if (found) fail_msg("key %.*s appears twice", static_cast<int>(key.size()), key.data());
      found = &map.via.map.ptr[i].val;
    }
  }
  return found;
}

// ------------------------------------------------------------------ success

void test_round_trip(void**) {
  std::string payload = Pack([&](Packer& p) {
    p.pack_map(5);
    Str(p, "id");
    Bin(p, kId8);
    Str(p, "ts");
    p.pack(kTs);
    Str(p, "body");
    Str(p, "hello");
    Str(p, "type");
    Str(p, "markdown");
    Str(p, "meta");
    p.pack_map(1);
    Str(p, "k");
    p.pack(7);
  });
  ClientMessage m;
  DecodeOutcome o = Decode(payload, &m);
  assert_true(o.ok);
  assert_true(o.id == kId8);
  assert_true(m.id == kId8);
  assert_int_equal(m.ts, kTs);
  assert_int_equal(m.fields.count, 5);

  std::string delivered = chat::EncodeDelivery(m.fields, chat::Stamp{42, "alice", 1700000000123, "room1"});
  msgpack::object_handle h = msgpack::unpack(delivered.data(), delivered.size());
  const msgpack::object& root = h.get();
  assert_int_equal(root.type, msgpack::type::MAP);
  assert_int_equal(root.via.map.size, 9);
  const char* order[] = {"id", "ts", "body", "type", "meta", "seq", "from", "sts", "ch"};
  for (uint32_t i = 0; i < 9; ++i) assert_true(KeyIs(root.via.map.ptr[i].key, order[i]));
  const msgpack::object* v = Find(root, "id");
  assert_int_equal(v->type, msgpack::type::BIN);
  assert_true(Sv(*v) == kId8);
  v = Find(root, "ts");
  assert_int_equal(v->type, msgpack::type::POSITIVE_INTEGER);
  assert_int_equal(v->via.u64, kTs);
  v = Find(root, "body");
  assert_int_equal(v->type, msgpack::type::STR);
  assert_true(Sv(*v) == "hello");
  v = Find(root, "type");
  assert_true(Sv(*v) == "markdown");
  v = Find(root, "meta");
  assert_int_equal(v->type, msgpack::type::MAP);
  assert_int_equal(v->via.map.size, 1);
  assert_true(KeyIs(v->via.map.ptr[0].key, "k"));
  assert_int_equal(v->via.map.ptr[0].val.via.u64, 7);
  v = Find(root, "seq");
  assert_int_equal(v->type, msgpack::type::POSITIVE_INTEGER);
  assert_int_equal(v->via.u64, 42);
  v = Find(root, "from");
  assert_int_equal(v->type, msgpack::type::STR);
  assert_true(Sv(*v) == "alice");
  v = Find(root, "sts");
  assert_int_equal(v->type, msgpack::type::POSITIVE_INTEGER);
  assert_int_equal(v->via.u64, 1700000000123);
  v = Find(root, "ch");
  assert_int_equal(v->type, msgpack::type::STR);
  assert_true(Sv(*v) == "room1");

  // The delivered map is itself a valid client message (clients may forward it).
  ClientMessage again;
  assert_true(Decode(delivered, &again).ok);
  assert_true(again.id == kId8);
  assert_int_equal(again.fields.count, 5);
}

void test_unknown_keys_kept_in_order(void**) {
  std::string payload = Pack([&](Packer& p) {
    p.pack_map(7);
    Str(p, "zeta");  // before the known keys
    Str(p, "z");
    Str(p, "id");
    Bin(p, kId8);
    p.pack(17);  // an integer key
    p.pack_array(3);
    p.pack(1);
    p.pack_nil();
    p.pack_map(1);
    Str(p, "deep");
    p.pack_array(1);
    p.pack(true);
    Str(p, "ts");
    p.pack(kTs);
    Bin(p, "binkey");  // a bin key
    p.pack(-5);
    Str(p, "body");
    Bin(p, std::string("\x00\xff", 2));
    Str(p, "alpha");
    p.pack(2.5);
  });
  ClientMessage m;
  assert_true(Decode(payload, &m).ok);
  assert_int_equal(m.fields.count, 7);
  std::string delivered = chat::EncodeDelivery(m.fields, chat::Stamp{1, "bob", 5, "c"});
  msgpack::object_handle h = msgpack::unpack(delivered.data(), delivered.size());
  const msgpack::object& root = h.get();
  assert_int_equal(root.via.map.size, 11);
  const msgpack::object_kv* kv = root.via.map.ptr;
  assert_true(KeyIs(kv[0].key, "zeta"));
  assert_true(Sv(kv[0].val) == "z");
  assert_true(KeyIs(kv[1].key, "id"));
  assert_int_equal(kv[2].key.type, msgpack::type::POSITIVE_INTEGER);
  assert_int_equal(kv[2].key.via.u64, 17);
  assert_int_equal(kv[2].val.type, msgpack::type::ARRAY);
  assert_int_equal(kv[2].val.via.array.size, 3);
  assert_int_equal(kv[2].val.via.array.ptr[1].type, msgpack::type::NIL);
  const msgpack::object& inner = kv[2].val.via.array.ptr[2];
  assert_int_equal(inner.type, msgpack::type::MAP);
  assert_true(KeyIs(inner.via.map.ptr[0].key, "deep"));
  assert_int_equal(inner.via.map.ptr[0].val.via.array.ptr[0].type, msgpack::type::BOOLEAN);
  assert_true(inner.via.map.ptr[0].val.via.array.ptr[0].via.boolean);
  assert_true(KeyIs(kv[3].key, "ts"));
  assert_int_equal(kv[4].key.type, msgpack::type::BIN);
  assert_true(Sv(kv[4].key) == "binkey");
  assert_int_equal(kv[4].val.type, msgpack::type::NEGATIVE_INTEGER);
  assert_int_equal(kv[4].val.via.i64, -5);
  assert_true(KeyIs(kv[5].key, "body"));
  assert_int_equal(kv[5].val.type, msgpack::type::BIN);
  assert_true(Sv(kv[5].val) == std::string("\x00\xff", 2));
  assert_true(KeyIs(kv[6].key, "alpha"));
  assert_int_equal(kv[6].val.type, msgpack::type::FLOAT64);
  assert_true(kv[6].val.via.f64 == 2.5);
  assert_true(KeyIs(kv[7].key, "seq"));
  assert_true(KeyIs(kv[10].key, "ch"));
}

void test_plugin_keys_replaced(void**) {
  std::string payload = Message(kId8, kTs, "hi", 4, [](Packer& p) {
    Str(p, "seq");
    p.pack(999);
    Str(p, "from");
    Str(p, "mallory");
    Str(p, "sts");
    p.pack(1);
    Str(p, "ch");
    Str(p, "elsewhere");
  });
  ClientMessage m;
  assert_true(Decode(payload, &m).ok);
  assert_int_equal(m.fields.count, 3);
  std::string delivered = chat::EncodeDelivery(m.fields, chat::Stamp{7, "alice", 1234, "room1"});
  msgpack::object_handle h = msgpack::unpack(delivered.data(), delivered.size());
  const msgpack::object& root = h.get();
  assert_int_equal(root.via.map.size, 7);
  assert_int_equal(Find(root, "seq")->via.u64, 7);
  assert_true(Sv(*Find(root, "from")) == "alice");
  assert_int_equal(Find(root, "sts")->via.u64, 1234);
  assert_true(Sv(*Find(root, "ch")) == "room1");
}

void test_id_sizes(void**) {
  ClientMessage m;
  assert_true(Decode(Message(std::string(8, 'a'), kTs, "x"), &m).ok);
  assert_int_equal(m.id.size(), 8);
  assert_true(Decode(Message(std::string(32, 'b'), kTs, "x"), &m).ok);
  assert_true(m.id == std::string(32, 'b'));
  // Any byte values, NUL included.
  std::string raw("\x00\x00\xff\x80\x00\x01\x02\x00", 8);
  assert_true(Decode(Message(raw, kTs, "x"), &m).ok);
  assert_true(m.id == raw);
  ExpectMalformed(Message(std::string(7, 'a'), kTs, "x"), std::string(7, 'a'));
  ExpectMalformed(Message(std::string(33, 'a'), kTs, "x"), std::string(33, 'a'));
  ExpectMalformed(Message("", kTs, "x"));
}

void test_ts_values(void**) {
  ClientMessage m;
  assert_true(Decode(Message(kId8, 0, "x"), &m).ok);
  assert_int_equal(m.ts, 0);
  assert_true(Decode(Message(kId8, UINT64_MAX, "x"), &m).ok);
  assert_int_equal(m.ts, UINT64_MAX);
}

void test_body_kinds_and_size(void**) {
  ClientMessage m;
  // str exactly at the limit, then one byte over.
  assert_true(Decode(Message(kId8, kTs, std::string(kMax, 'b')), &m).ok);
  ExpectRefused(Message(kId8, kTs, std::string(kMax + 1, 'b')), RefusalCode::kTooLarge, kId8);
  // bin exactly at the limit, then one byte over.
  auto bin_body = [](size_t n) {
    return Pack([&](Packer& p) {
      p.pack_map(3);
      Str(p, "id");
      Bin(p, kId8);
      Str(p, "ts");
      p.pack(kTs);
      Str(p, "body");
      Bin(p, std::string(n, 'q'));
    });
  };
  assert_true(Decode(bin_body(kMax), &m).ok);
  ExpectRefused(bin_body(kMax + 1), RefusalCode::kTooLarge, kId8);
  // Empty body is a body.
  assert_true(Decode(Message(kId8, kTs, ""), &m).ok);
  // The limit is the one passed in.
  assert_true(Decode(Message(kId8, kTs, "abc"), &m, 3).ok);
  ExpectRefused(Message(kId8, kTs, "abcd"), RefusalCode::kTooLarge, kId8, 3);
  // The id is reported even when the body comes before it.
  std::string body_first = Pack([&](Packer& p) {
    p.pack_map(3);
    Str(p, "body");
    Str(p, std::string(kMax + 1, 'b'));
    Str(p, "ts");
    p.pack(kTs);
    Str(p, "id");
    Bin(p, kId8);
  });
  ExpectRefused(body_first, RefusalCode::kTooLarge, kId8);
}

// ------------------------------------------------------------------ refusals

void test_not_msgpack(void**) {
  ExpectMalformed("");
  ExpectMalformed("\xc1");                 // a byte MessagePack never uses
  ExpectMalformed("{\"id\":\"x\"}");       // JSON: parses as a fixint then trails
  ExpectMalformed(std::string("\xc1\x00", 2));
}

void test_truncated_and_trailing(void**) {
  std::string good = Message(kId8, kTs, "hello");
  ClientMessage m;
  assert_true(Decode(good, &m).ok);
  for (size_t n = 1; n < good.size(); ++n) ExpectMalformed(good.substr(0, n));
  ExpectMalformed(good + std::string(1, '\0'));
  ExpectMalformed(good + good);
}

void test_wrong_root(void**) {
  ExpectMalformed(Pack([](Packer& p) { Str(p, "hello"); }));
  ExpectMalformed(Pack([](Packer& p) { p.pack(5); }));
  ExpectMalformed(Pack([](Packer& p) { p.pack_nil(); }));
  ExpectMalformed(Pack([](Packer& p) {
    p.pack_array(3);
    Bin(p, kId8);
    p.pack(kTs);
    Str(p, "x");
  }));
  ExpectMalformed(Pack([](Packer& p) { p.pack_map(0); }));
}

void test_id_shapes(void**) {
  // Missing.
  ExpectMalformed(Pack([](Packer& p) {
    p.pack_map(2);
    Str(p, "ts");
    p.pack(kTs);
    Str(p, "body");
    Str(p, "x");
  }));
  // A str, not a bin: not readable as an id.
  ExpectMalformed(Pack([](Packer& p) {
    p.pack_map(3);
    Str(p, "id");
    Str(p, "12345678");
    Str(p, "ts");
    p.pack(kTs);
    Str(p, "body");
    Str(p, "x");
  }));
  ExpectMalformed(Pack([](Packer& p) {
    p.pack_map(3);
    Str(p, "id");
    p.pack(12345678);
    Str(p, "ts");
    p.pack(kTs);
    Str(p, "body");
    Str(p, "x");
  }));
  // A bin key "id" is an unknown key, so the id is missing.
  ExpectMalformed(Pack([](Packer& p) {
    p.pack_map(3);
    Bin(p, "id");
    Bin(p, kId8);
    Str(p, "ts");
    p.pack(kTs);
    Str(p, "body");
    Str(p, "x");
  }));
}

void test_ts_shapes(void**) {
  ExpectMalformed(Pack([](Packer& p) {
    p.pack_map(2);
    Str(p, "id");
    Bin(p, kId8);
    Str(p, "body");
    Str(p, "x");
  }), kId8);
  auto with_ts = [](const std::function<void(Packer&)>& ts) {
    return Pack([&](Packer& p) {
      p.pack_map(3);
      Str(p, "id");
      Bin(p, kId8);
      Str(p, "ts");
      ts(p);
      Str(p, "body");
      Str(p, "x");
    });
  };
  ExpectMalformed(with_ts([](Packer& p) { p.pack(int64_t{-1}); }), kId8);
  ExpectMalformed(with_ts([](Packer& p) { p.pack(INT64_MIN); }), kId8);
  ExpectMalformed(with_ts([](Packer& p) { Str(p, "1700000000000"); }), kId8);
  // msgpack-c packs an integral double as an integer: write the float bytes by hand.
  auto raw = [](std::string bytes) {
    return [bytes](Packer& p) { p.pack_bin_body(bytes.data(), static_cast<uint32_t>(bytes.size())); };
  };
  // float64 1700000000000.0 and float32 1.0: integral values, still not uint.
  ExpectMalformed(with_ts(raw(std::string("\xcb\x42\x78\xbc\xfe\x56\x80\x00\x00", 9))), kId8);
  ExpectMalformed(with_ts(raw(std::string("\xca\x3f\x80\x00\x00", 5))), kId8);
  ExpectMalformed(with_ts([](Packer& p) { p.pack(1.5f); }), kId8);
  ExpectMalformed(with_ts([](Packer& p) { p.pack_nil(); }), kId8);
  ExpectMalformed(with_ts([](Packer& p) { p.pack(true); }), kId8);
}

void test_body_shapes(void**) {
  ExpectMalformed(Pack([](Packer& p) {
    p.pack_map(2);
    Str(p, "id");
    Bin(p, kId8);
    Str(p, "ts");
    p.pack(kTs);
  }), kId8);
  auto with_body = [](const std::function<void(Packer&)>& body) {
    return Pack([&](Packer& p) {
      p.pack_map(3);
      Str(p, "id");
      Bin(p, kId8);
      Str(p, "ts");
      p.pack(kTs);
      Str(p, "body");
      body(p);
    });
  };
  ExpectMalformed(with_body([](Packer& p) { p.pack(5); }), kId8);
  ExpectMalformed(with_body([](Packer& p) { p.pack_nil(); }), kId8);
  ExpectMalformed(with_body([](Packer& p) { p.pack_array(0); }), kId8);
  ExpectMalformed(with_body([](Packer& p) { p.pack_map(0); }), kId8);
}

void test_type_and_meta_shapes(void**) {
  ClientMessage m;
  assert_true(Decode(Message(kId8, kTs, "x", 1, [](Packer& p) {
                       Str(p, "type");
                       Str(p, "image/png");
                     }),
                     &m)
                  .ok);
  assert_true(Decode(Message(kId8, kTs, "x", 1, [](Packer& p) {
                       Str(p, "meta");
                       p.pack_map(0);
                     }),
                     &m)
                  .ok);
  ExpectMalformed(Message(kId8, kTs, "x", 1, [](Packer& p) {
                    Str(p, "type");
                    p.pack(1);
                  }),
                  kId8);
  ExpectMalformed(Message(kId8, kTs, "x", 1, [](Packer& p) {
                    Str(p, "type");
                    Bin(p, "text");
                  }),
                  kId8);
  ExpectMalformed(Message(kId8, kTs, "x", 1, [](Packer& p) {
                    Str(p, "meta");
                    p.pack_array(0);
                  }),
                  kId8);
  ExpectMalformed(Message(kId8, kTs, "x", 1, [](Packer& p) {
                    Str(p, "meta");
                    Str(p, "m");
                  }),
                  kId8);
  ExpectMalformed(Message(kId8, kTs, "x", 1, [](Packer& p) {
                    Str(p, "meta");
                    p.pack_nil();
                  }),
                  kId8);
}

void test_duplicate_keys(void**) {
  const std::string other = "ABCDEFGHIJ";
  // Duplicate id: refused, and the first id is the one reported.
  ExpectMalformed(Message(kId8, kTs, "x", 1, [&](Packer& p) {
                    Str(p, "id");
                    Bin(p, other);
                  }),
                  kId8);
  // The same id twice is still a duplicate key.
  ExpectMalformed(Message(kId8, kTs, "x", 1, [&](Packer& p) {
                    Str(p, "id");
                    Bin(p, kId8);
                  }),
                  kId8);
  ExpectMalformed(Message(kId8, kTs, "x", 1, [](Packer& p) {
                    Str(p, "ts");
                    p.pack(kTs + 1);
                  }),
                  kId8);
  ExpectMalformed(Message(kId8, kTs, "x", 1, [](Packer& p) {
                    Str(p, "body");
                    Str(p, "y");
                  }),
                  kId8);
  ExpectMalformed(Message(kId8, kTs, "x", 2, [](Packer& p) {
                    Str(p, "type");
                    Str(p, "a");
                    Str(p, "type");
                    Str(p, "b");
                  }),
                  kId8);
  ExpectMalformed(Message(kId8, kTs, "x", 2, [](Packer& p) {
                    Str(p, "meta");
                    p.pack_map(0);
                    Str(p, "meta");
                    p.pack_map(0);
                  }),
                  kId8);
}

// A message whose unknown key "x" holds `levels` - 1 nested arrays, so the
// whole payload nests `levels` containers deep (the root map is level 1).
std::string Nested(int levels) {
  return Message(kId8, kTs, "x", 1, [&](Packer& p) {
    Str(p, "x");
    for (int i = 0; i < levels - 1; ++i) p.pack_array(1);
    p.pack_nil();
  });
}

void test_nesting_depth(void**) {
  ClientMessage m;
  assert_true(Decode(Nested(32), &m).ok);
  ExpectMalformed(Nested(33));
  ExpectMalformed(Nested(1000));
  // Nested maps inside meta count the same way.
  std::string maps = Message(kId8, kTs, "x", 1, [](Packer& p) {
    Str(p, "meta");
    for (int i = 0; i < 40; ++i) {
      p.pack_map(1);
      Str(p, "k");
    }
    p.pack_nil();
  });
  ExpectMalformed(maps);
}

void test_huge_declared_lengths(void**) {
  // The map header promises more pairs than follow.
  std::string base = Message(kId8, kTs, "x");
  std::string lying_map = base;
  lying_map[0] = static_cast<char>(0x8f);  // fixmap of 15 pairs, only 3 present
  ExpectMalformed(lying_map);
  // array32 / map32 / str32 / bin32 headers with 0xffffffff elements and no data.
  for (unsigned char tag : {0xdd, 0xdf, 0xdb, 0xc6}) {
    std::string p = Message(kId8, kTs, "x", 1, [](Packer& pk) { Str(pk, "x"); });
    p.push_back(static_cast<char>(tag));
    p.append("\xff\xff\xff\xff", 4);
    ExpectMalformed(p);
  }
  // Inside the limits but with short data.
  std::string p = Message(kId8, kTs, "x", 1, [](Packer& pk) { Str(pk, "x"); });
  p.append("\xdd\x00\x00\xea\x60", 5);  // array of 60000
  p.append("\x01\x02\x03", 3);
  ExpectMalformed(p);
  // A root map32 header claiming 2^32-1 pairs.
  ExpectMalformed(std::string("\xdf\xff\xff\xff\xff", 5));
}

void test_id_reported_when_readable(void**) {
  const std::string id(20, 'Z');
  ClientMessage m;
  DecodeOutcome o = Decode(Pack([&](Packer& p) {
                             p.pack_map(2);
                             Str(p, "body");
                             p.pack(1);
                             Str(p, "id");
                             Bin(p, id);
                           }),
                           &m);
  assert_false(o.ok);
  assert_true(o.id == id);
  // Not readable: the payload is not a map.
  o = Decode("\xc1", &m);
  assert_false(o.ok);
  assert_true(o.id.empty());
}

// ------------------------------------------------------------------ errors

void CheckError(const std::string& encoded, const char* code, std::string_view reason, std::string_view id) {
  msgpack::object_handle h = msgpack::unpack(encoded.data(), encoded.size());
  const msgpack::object& root = h.get();
  assert_int_equal(root.type, msgpack::type::MAP);
  assert_int_equal(root.via.map.size, id.empty() ? 2 : 3);
  const msgpack::object* c = Find(root, "code");
  assert_non_null(c);
  assert_int_equal(c->type, msgpack::type::STR);
  assert_true(Sv(*c) == code);
  const msgpack::object* r = Find(root, "reason");
  assert_non_null(r);
  assert_int_equal(r->type, msgpack::type::STR);
  assert_true(Sv(*r) == reason);
  const msgpack::object* i = Find(root, "id");
  if (id.empty()) {
    assert_null(i);
  } else {
    assert_non_null(i);
    assert_int_equal(i->type, msgpack::type::BIN);
    assert_true(Sv(*i) == id);
  }
}

void test_encode_error(void**) {
  CheckError(chat::EncodeError(RefusalCode::kStale, "ts is old", kId8), "stale", "ts is old", kId8);
  CheckError(chat::EncodeError(RefusalCode::kNotMember, "no", ""), "not_member", "no", "");
  CheckError(chat::EncodeError(RefusalCode::kMalformed, "", std::string("\0\0\0\0\0\0\0\0", 8)), "malformed", "",
             std::string(8, '\0'));
}

void test_refusal_code_names(void**) {
  assert_string_equal(chat::RefusalCodeName(RefusalCode::kNotMember), "not_member");
  assert_string_equal(chat::RefusalCodeName(RefusalCode::kMalformed), "malformed");
  assert_string_equal(chat::RefusalCodeName(RefusalCode::kTooLarge), "too_large");
  assert_string_equal(chat::RefusalCodeName(RefusalCode::kStale), "stale");
  assert_string_equal(chat::RefusalCodeName(RefusalCode::kRateLimited), "rate_limited");
  assert_string_equal(chat::RefusalCodeName(RefusalCode::kUnavailable), "unavailable");
}

// Unknown values travel byte for byte, even in a non-canonical encoding that
// a re-pack would change (5 as uint32 instead of a fixint), unless the map
// carried a plugin key and had to be rebuilt.
void test_unknown_values_keep_their_bytes(void**) {
  const std::string id = "0123456789abcdef";
  std::string payload;
  payload += '\x84';
  payload += std::string("\xa2id", 3) + '\xc4' + static_cast<char>(id.size()) + id;
  payload += std::string("\xa2ts", 3) + '\x01';
  payload += std::string("\xa4" "body", 5) + std::string("\xa2hi", 3);
  const std::string odd = std::string("\xa1x", 2) + std::string("\xce\x00\x00\x00\x05", 5);
  payload += odd;
  chat::ClientMessage m;
  chat::DecodeOutcome o = chat::DecodeClientMessage(payload, 1024, &m);
  assert_true(o.ok);
  assert_int_equal(m.fields.count, 4);
  assert_true(m.fields.packed == payload.substr(1));
  assert_true(m.fields.packed.find(odd) != std::string::npos);
}

}  // namespace

int main() {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_round_trip),
      cmocka_unit_test(test_unknown_keys_kept_in_order),
      cmocka_unit_test(test_plugin_keys_replaced),
      cmocka_unit_test(test_id_sizes),
      cmocka_unit_test(test_ts_values),
      cmocka_unit_test(test_body_kinds_and_size),
      cmocka_unit_test(test_not_msgpack),
      cmocka_unit_test(test_truncated_and_trailing),
      cmocka_unit_test(test_wrong_root),
      cmocka_unit_test(test_id_shapes),
      cmocka_unit_test(test_ts_shapes),
      cmocka_unit_test(test_body_shapes),
      cmocka_unit_test(test_type_and_meta_shapes),
      cmocka_unit_test(test_duplicate_keys),
      cmocka_unit_test(test_nesting_depth),
      cmocka_unit_test(test_huge_declared_lengths),
      cmocka_unit_test(test_id_reported_when_readable),
      cmocka_unit_test(test_encode_error),
      cmocka_unit_test(test_refusal_code_names),
      cmocka_unit_test(test_unknown_values_keep_their_bytes),
  };
  return cmocka_run_group_tests(tests, nullptr, nullptr);
}
