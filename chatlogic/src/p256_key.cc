#include "p256_key.h"

#include <openssl/core_names.h>

#include <algorithm>

namespace chat {

ossl::PkeyPtr MakeP256Key(const std::string& x, const std::string& y, const std::string* d) {
  constexpr size_t kCoord = 32;
  if (x.size() != kCoord || y.size() != kCoord) return nullptr;
  ossl::ErrorMark mark;
  unsigned char point[1 + 2 * kCoord];
  point[0] = 0x04;  // uncompressed
  std::copy(x.begin(), x.end(), point + 1);
  std::copy(y.begin(), y.end(), point + 1 + kCoord);

  ossl::ParamBldPtr bld(OSSL_PARAM_BLD_new());
  if (!bld || OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) != 1 ||
      OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point, sizeof(point)) != 1) {
    return nullptr;
  }
  ossl::BignumClearPtr priv;
  if (d != nullptr) {
    priv.reset(BN_secure_new());
    if (!priv ||
        BN_bin2bn(reinterpret_cast<const unsigned char*>(d->data()), static_cast<int>(d->size()), priv.get()) ==
            nullptr ||
        OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_PRIV_KEY, priv.get()) != 1) {
      return nullptr;
    }
  }
  ossl::ParamPtr params(OSSL_PARAM_BLD_to_param(bld.get()));
  ossl::PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1) return nullptr;
  EVP_PKEY* raw = nullptr;
  const int selection = d != nullptr ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY;
  if (EVP_PKEY_fromdata(ctx.get(), &raw, selection, params.get()) != 1) return nullptr;
  ossl::PkeyPtr pkey(raw);
  // fromdata already refuses most bad points; the explicit checks are the
  // documented guarantee.
  ossl::PkeyCtxPtr check(EVP_PKEY_CTX_new_from_pkey(nullptr, pkey.get(), nullptr));
  if (!check) return nullptr;
  const int ok = d != nullptr ? EVP_PKEY_check(check.get()) : EVP_PKEY_public_check(check.get());
  return ok == 1 ? std::move(pkey) : nullptr;
}

}  // namespace chat
