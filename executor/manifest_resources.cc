// Resources: how many of each exist (the top-level "resources", --resources) and what a group or a test
// needs of them ("resources", "resource_groups").
#include <boost/json.hpp>
#include <fmt/format.h>

#include "executor/json_location.h"
#include "executor/manifest_loader.h"
#include "executor/resources.h"

namespace mpexec::manifest_loader {

Result<void> Loader::readCapacity(const json::object& top, Manifest& m) {
  if (const json::value* v = top.if_contains("resources")) {
    const json::object* o = v->if_object();
    if (o == nullptr) return expected("/resources", "an object of resource names and counts", *v);
    for (const auto& kv : *o) {
      std::string ptr = "/resources/" + jsonPointerToken(kv.key());
      if (!validResourceName(kv.key())) {
        return at(ptr, fmt::format("resource name {} must be 1 to 64 characters from [a-z0-9_], not starting with a "
                                   "digit", jsonQuoted(kv.key())));
      }
      const json::value& n = kv.value();
      if (!n.is_int64() || n.get_int64() < 0 || n.get_int64() > kMaxResourceCount) {
        return expected(ptr, fmt::format("how many exist, an integer 0..{}", kMaxResourceCount), n);
      }
      m.resources[std::string(kv.key())] = int(n.get_int64());
      capacity_from_[std::string(kv.key())] = ptr;
    }
  }
  for (const auto& [name, count] : opts_.resources) {
    m.resources[name] = count;
    auto origin = opts_.resource_origins.find(name);
    capacity_from_[name] = origin == opts_.resource_origins.end() ? "--resources" : origin->second;
  }
  return {};
}

Result<void> Loader::checkNeed(const std::string& ptr, const std::string& name, int64_t count,
                               const Manifest& m) const {
  auto exists = m.resources.find(name);
  if (exists == m.resources.end()) {
    return at(ptr, fmt::format("resource {} is not declared: say how many exist in /resources, or with "
                               "--resources {}=N",
                               jsonQuoted(name), validResourceName(name) ? name : "NAME"));
  }
  if (count > exists->second) {
    return at(ptr, fmt::format("needs {} {}, but {} exist ({}), so it could never run", count, name,
                               exists->second, capacity_from_.at(name)));
  }
  return {};
}

Result<void> Loader::readNeeds(const json::object& o, const std::string& ptr, const Manifest& m, ResourceCounts& out,
                               ResourceGroups* groups) {
  if (const json::value* v = o.if_contains("resources")) {
    std::string rptr = ptr + "/resources";
    const json::object* needs = v->if_object();
    if (needs == nullptr) return expected(rptr, "an object of resource names and counts", *v);
    for (const auto& kv : *needs) {
      std::string name(kv.key());
      std::string nptr = rptr + "/" + jsonPointerToken(name);
      MPEXEC_TRY(checkNeed(nptr, name, 0, m));
      const json::value& n = kv.value();
      if (!n.is_int64() || n.get_int64() < 0) return expected(nptr, "how many it needs, an integer >= 0", n);
      MPEXEC_TRY(checkNeed(nptr, name, n.get_int64(), m));
      out[name] = int(n.get_int64());
    }
  }
  const json::value* v = groups ? o.if_contains("resource_groups") : nullptr;
  if (v == nullptr) return {};
  std::string gptr = ptr + "/resource_groups";
  if (o.contains("resources")) return at(gptr, "give \"resources\" or \"resource_groups\", not both");
  const json::array* list = v->if_array();
  if (list == nullptr || list->empty() || list->size() > std::size_t(kMaxResourceCount)) {
    return expected(gptr, fmt::format("an array of 1 to {} groups, each an object of resource names and slots",
                                      kMaxResourceCount), *v);
  }
  ResourceCounts counted;  // per resource: how many groups ask for it so far
  for (std::size_t i = 0; i < list->size(); ++i) {
    std::string iptr = fmt::format("{}/{}", gptr, i);
    const json::object* group = (*list)[i].if_object();
    if (group == nullptr || group->empty())
      return expected(iptr, "a group: an object of resource names and slots, e.g. {\"gpu\": 1}", (*list)[i]);
    ResourceCounts& slots = groups->emplace_back();
    for (const auto& kv : *group) {
      std::string name(kv.key());
      std::string nptr = iptr + "/" + jsonPointerToken(name);
      MPEXEC_TRY(checkNeed(nptr, name, 0, m));
      const json::value& n = kv.value();
      if (!n.is_int64() || n.get_int64() < 1 || n.get_int64() > kMaxResourceCount)
        return expected(nptr, fmt::format("the slots it asks of one {}, an integer 1..{}", name, kMaxResourceCount), n);
      MPEXEC_TRY(checkNeed(nptr, name, ++counted[name], m));
      slots[name] = int(n.get_int64());
    }
  }
  for (const auto& [name, count] : counted) out[name] = count;
  return {};
}

}  // namespace mpexec::manifest_loader
