// CPU time of processes from /proc, for the bench's CPU-per-message figures
// and its check of what else ran meanwhile (noise).
#pragma once

#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>

namespace bench {

// User + system CPU time (us) of the process with /proc/<name>/stat
// ("self" for this one); nullopt when it cannot be read.
inline std::optional<double> ProcCpuUs(const std::string& name) {
  std::ifstream in("/proc/" + name + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t close = text.rfind(')');  // the command name may hold spaces
  if (close == std::string::npos) return std::nullopt;
  std::istringstream rest(text.substr(close + 1));
  std::string field;
  double ut = 0, st = 0;
  int i = 0;
  // After ")": field 3 (state) first; utime is field 14, stime field 15.
  for (; i < 13 && rest >> field; ++i) {
    if (i == 11) ut = std::atof(field.c_str());
    if (i == 12) st = std::atof(field.c_str());
  }
  if (i < 13) return std::nullopt;
  return (ut + st) * 1e6 / static_cast<double>(sysconf(_SC_CLK_TCK));
}

inline std::optional<double> ProcCpuUs(int pid) {
  if (pid <= 0) return std::nullopt;
  return ProcCpuUs(std::to_string(pid));
}

// CPU time (us) of every process but the given ones, by pid: what else ran.
inline std::map<int, double> OtherProcessesCpu(const std::set<int>& skip) {
  std::map<int, double> out;
  DIR* d = opendir("/proc");
  if (d == nullptr) return out;
  while (dirent* e = readdir(d)) {
    char* end = nullptr;
    const long pid = std::strtol(e->d_name, &end, 10);
    if (*e->d_name == '\0' || *end != '\0' || skip.count(static_cast<int>(pid)) > 0) continue;
    if (std::optional<double> us = ProcCpuUs(std::string(e->d_name))) out[static_cast<int>(pid)] = *us;
  }
  closedir(d);
  return out;
}

// CPU used between two OtherProcessesCpu samples (new processes count whole).
inline double OtherCpuDelta(const std::map<int, double>& before, const std::map<int, double>& after) {
  double total = 0;
  for (const auto& [pid, us] : after) {
    auto it = before.find(pid);
    total += it == before.end() ? us : std::max(0.0, us - it->second);
  }
  return total;
}

}  // namespace bench
