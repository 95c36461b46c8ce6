// Id grammar (spec section 2): channel and user ids are 1 to 64 characters
// from [A-Za-z0-9_.-].
#pragma once

#include <string_view>

namespace chat {

inline constexpr size_t kMaxIdLength = 64;

bool IsValidId(std::string_view id);

}  // namespace chat
