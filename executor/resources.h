#pragma once
// Countable resources (GPUs, databases, licences): how many of each exist, how many a unit needs, and
// which instances it holds. Like CTest's resource allocation (RESOURCE_GROUPS), with one slot per
// instance: a unit that needs 2 gpu holds 2 different instances. docs/manifest.md has the rules.

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sandbox/result.h"

namespace mpexec {

/// How many of each resource: what exists (the manifest's "resources", --resources) or what a test, a
/// group or a unit needs. Names are ordered, so every listing is stable.
using ResourceCounts = std::map<std::string, int>;

/// Which instances (0 .. count-1) of each resource a unit or a command holds, each list ascending.
using ResourceInstances = std::map<std::string, std::vector<int>>;

/// CTest's RESOURCE_GROUPS of a test: its groups in order, each resource name → the slots it asks of one
/// instance. Each group holds a whole instance of each resource it names (instances have one slot here),
/// so a test needs, of each resource, as many instances as it has groups naming it.
using ResourceGroups = std::vector<ResourceCounts>;

/// The most of one resource that may be declared: instance numbers go into one environment variable.
constexpr int kMaxResourceCount = 1024;

/// A resource name: 1 to 64 characters from [a-z0-9_], not starting with a digit (CTest's rule for
/// resource types), so that it maps onto one environment variable and back.
bool validResourceName(std::string_view name);

/// "gpu" → "MPEXEC_RESOURCE_GPU": the variable that tells a command which instances it holds.
std::string resourceVariable(std::string_view name);

/// "0,1": instance numbers as the variable's value.
std::string instanceList(const std::vector<int>& instances);

/// --resources: "gpu=2,db=1" → {db: 1, gpu: 2}. The Error's detail says what is wrong with which part.
Result<ResourceCounts> parseResourceCounts(std::string_view text);

/// The first need[r] instances of held[r] for each resource `need` names (with a count above 0): what one
/// command of a unit is given of what the unit holds.
ResourceInstances shareOf(const ResourceInstances& held, const ResourceCounts& need);

/// CTest's resource specification (`ctest --resource-spec-file`), version 1.0: {"version": {"major": 1,
/// "minor": 0}, "local": [{"gpus": [{"id": "0", "slots": 2}, ...], ...}]} → how many of each exist: one
/// instance per entry with slots, used whole whatever its slots. The Error's detail says where and what.
Result<ResourceCounts> parseResourceSpec(std::string_view json_text);

/// CTest's variables for a command with `groups`, given its instances (`held`, at least one per group
/// naming a resource), handed out in group order: CTEST_RESOURCE_GROUP_COUNT, CTEST_RESOURCE_GROUP_<i>
/// (its resource names, sorted, comma-separated) and CTEST_RESOURCE_GROUP_<i>_<NAME> ("id:<instance>,
/// slots:<slots>"), each as "VARIABLE=VALUE". Empty for no groups.
std::vector<std::string> ctestGroupVariables(const ResourceGroups& groups, const ResourceInstances& held);

/// `a` with each count raised to `b`'s where `b`'s is larger: a unit needs the most any command needs.
void raiseTo(ResourceCounts& a, const ResourceCounts& b);

/// The instances of every resource, free or taken. The scheduler's: it takes a unit's need when the unit
/// starts and gives it back when the unit ends.
class ResourcePool {
 public:
  explicit ResourcePool(const ResourceCounts& capacity);
  /// Whether every count of `need` is free now. A resource that does not exist never fits.
  bool fits(const ResourceCounts& need) const;
  /// The resources of `need` that are short now (fewer free than needed), in name order.
  std::vector<std::string> shortOf(const ResourceCounts& need) const;
  /// Takes the lowest free instances for `need`, which must fit.
  ResourceInstances take(const ResourceCounts& need);
  /// Gives back what take() returned.
  void give(const ResourceInstances& held);

 private:
  std::map<std::string, std::vector<bool>> taken_;  ///< per resource, per instance
};

}  // namespace mpexec
