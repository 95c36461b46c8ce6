// Severity of a line for the broker's log.
#pragma once

namespace chat {

enum class LogLevel { kDebug, kInfo, kNotice, kWarning, kError };

}  // namespace chat
