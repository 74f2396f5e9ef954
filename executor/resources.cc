#include "executor/resources.h"

#include <algorithm>
#include <cctype>

#include <fmt/format.h>

namespace mpexec {

bool validResourceName(std::string_view name) {
  if (name.empty() || name.size() > 64 || std::isdigit(static_cast<unsigned char>(name[0]))) return false;
  return std::all_of(name.begin(), name.end(), [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'; });
}

std::string resourceVariable(std::string_view name) {
  std::string v = "MPEXEC_RESOURCE_";
  for (char c : name) v += char(std::toupper(static_cast<unsigned char>(c)));
  return v;
}

std::string instanceList(const std::vector<int>& instances) {
  std::string out;
  for (int i : instances) out += (out.empty() ? "" : ",") + std::to_string(i);
  return out;
}

Result<ResourceCounts> parseResourceCounts(std::string_view text) {
  ResourceCounts out;
  std::string_view rest = text;
  while (true) {
    std::size_t comma = rest.find(',');
    std::string_view part = rest.substr(0, comma);
    std::size_t eq = part.find('=');
    std::string_view name = part.substr(0, eq);
    if (eq == std::string_view::npos || !validResourceName(name)) {
      return Error{{}, 0, fmt::format("expected NAME=COUNT (NAME from [a-z0-9_], not starting with a digit), got '{}'", part)};
    }
    std::string_view count = part.substr(eq + 1);
    int n = 0;
    bool digits = !count.empty() && count.size() <= 5 &&
                  std::all_of(count.begin(), count.end(), [](char c) { return c >= '0' && c <= '9'; });
    for (char c : digits ? count : std::string_view()) n = n * 10 + (c - '0');
    if (!digits || n > kMaxResourceCount) {
      return Error{{}, 0, fmt::format("expected a count from 0 to {} for {}, got '{}'", kMaxResourceCount, name, count)};
    }
    if (!out.emplace(std::string(name), n).second) {
      return Error{{}, 0, fmt::format("{} is given twice", name)};
    }
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  return out;
}

ResourceInstances shareOf(const ResourceInstances& held, const ResourceCounts& need) {
  ResourceInstances out;
  for (const auto& [name, count] : need) {
    if (count <= 0) continue;
    auto it = held.find(name);
    if (it == held.end()) continue;
    out[name].assign(it->second.begin(), it->second.begin() + std::min<std::ptrdiff_t>(count, std::ptrdiff_t(it->second.size())));
  }
  return out;
}

void raiseTo(ResourceCounts& a, const ResourceCounts& b) {
  for (const auto& [name, count] : b) {
    if (count <= 0) continue;
    int& mine = a[name];
    mine = std::max(mine, count);
  }
}

ResourcePool::ResourcePool(const ResourceCounts& capacity) {
  for (const auto& [name, count] : capacity) taken_[name].assign(std::size_t(std::max(0, count)), false);
}

bool ResourcePool::fits(const ResourceCounts& need) const { return shortOf(need).empty(); }

std::vector<std::string> ResourcePool::shortOf(const ResourceCounts& need) const {
  std::vector<std::string> out;
  for (const auto& [name, count] : need) {
    if (count <= 0) continue;
    auto it = taken_.find(name);
    auto free = it == taken_.end() ? 0 : std::count(it->second.begin(), it->second.end(), false);
    if (free < count) out.push_back(name);
  }
  return out;
}

ResourceInstances ResourcePool::take(const ResourceCounts& need) {
  ResourceInstances held;
  for (const auto& [name, count] : need) {
    if (count <= 0) continue;
    std::vector<bool>& taken = taken_[name];
    std::vector<int>& mine = held[name];
    for (std::size_t i = 0; i < taken.size() && int(mine.size()) < count; ++i) {
      if (taken[i]) continue;
      taken[i] = true;
      mine.push_back(int(i));
    }
  }
  return held;
}

void ResourcePool::give(const ResourceInstances& held) {
  for (const auto& [name, instances] : held) {
    auto it = taken_.find(name);
    if (it == taken_.end()) continue;
    for (int i : instances)
      if (i >= 0 && std::size_t(i) < it->second.size()) it->second[std::size_t(i)] = false;
  }
}

}  // namespace mpexec
