#include "executor/resources.h"

#include <algorithm>
#include <cctype>
#include <map>

#include <boost/json.hpp>
#include <fmt/format.h>

#include "executor/printable.h"

namespace mpexec {

namespace json = boost::json;

bool validResourceName(std::string_view name) {
  if (name.empty() || name.size() > 64 || std::isdigit(static_cast<unsigned char>(name[0]))) return false;
  return std::all_of(name.begin(), name.end(), [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'; });
}

namespace {

std::string upper(std::string_view name) {
  std::string out;
  for (char c : name) out += char(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

std::string resourceVariable(std::string_view name) { return "MPEXEC_RESOURCE_" + upper(name); }

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

Result<ResourceCounts> parseResourceSpec(std::string_view text) {
  boost::system::error_code ec;
  json::value root = json::parse(text, ec);
  if (ec) return Error{{}, 0, fmt::format("not JSON: {}", ec.message())};
  const json::object* top = root.if_object();
  const json::value* version = top ? top->if_contains("version") : nullptr;
  const json::object* vo = version ? version->if_object() : nullptr;
  const json::value* major = vo ? vo->if_contains("major") : nullptr;
  if (major == nullptr || !major->is_int64() || major->get_int64() != 1)
    return Error{{}, 0, "expected CTest's resource specification, version 1.0: {\"version\": {\"major\": 1, \"minor\": 0}, \"local\": [{...}]}"};
  const json::value* local = top->if_contains("local");
  const json::array* machines = local ? local->if_array() : nullptr;
  if (machines == nullptr || machines->size() != 1 || !(*machines)[0].is_object())
    return Error{{}, 0, "/local: expected an array of one object (resource name → its instances)"};
  ResourceCounts out;
  for (const auto& kv : (*machines)[0].as_object()) {
    std::string ptr = "/local/0/" + printable(kv.key());
    if (!validResourceName(kv.key()))
      return Error{{}, 0, fmt::format("{}: a resource name is 1 to 64 characters from [a-z0-9_], not starting with a digit", printable(ptr))};
    const json::array* list = kv.value().if_array();
    if (list == nullptr) return Error{{}, 0, fmt::format("{}: expected an array of {{\"id\": ..., \"slots\": N}}", ptr)};
    int n = 0;
    for (std::size_t i = 0; i < list->size(); ++i) {
      const json::object* inst = (*list)[i].if_object();
      const json::value* slots = inst ? inst->if_contains("slots") : nullptr;
      const json::value* id = inst ? inst->if_contains("id") : nullptr;
      if (id == nullptr || !id->is_string() || slots == nullptr || !slots->is_int64() || slots->get_int64() < 0)
        return Error{{}, 0, fmt::format("{}/{}: expected {{\"id\": STRING, \"slots\": N >= 0}}", ptr, i)};
      if (slots->get_int64() > 0) ++n;
    }
    if (n > kMaxResourceCount) return Error{{}, 0, fmt::format("{}: more than {} instances", ptr, kMaxResourceCount)};
    out[std::string(kv.key())] = n;
  }
  return out;
}

std::vector<std::string> ctestGroupVariables(const ResourceGroups& groups, const ResourceInstances& held) {
  std::vector<std::string> out;
  if (groups.empty()) return out;
  out.push_back(fmt::format("CTEST_RESOURCE_GROUP_COUNT={}", groups.size()));
  std::map<std::string, std::size_t> next;  // per resource: the next of `held` to hand out
  for (std::size_t i = 0; i < groups.size(); ++i) {
    std::string names;
    for (const auto& [name, slots] : groups[i]) {
      names += (names.empty() ? "" : ",") + name;
      auto it = held.find(name);
      std::size_t k = next[name]++;
      if (it == held.end() || k >= it->second.size()) continue;  // not held: the scheduler never does this
      out.push_back(fmt::format("CTEST_RESOURCE_GROUP_{}_{}=id:{},slots:{}", i, upper(name), it->second[k], slots));
    }
    out.push_back(fmt::format("CTEST_RESOURCE_GROUP_{}={}", i, names));
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
