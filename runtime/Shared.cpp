//===- runtime/Shared.cpp - Shared variables ------------------------------===//
#include "runtime/Shared.h"

#include "runtime/Executable.h"

namespace kiln {

Status SharedVariables::add(const std::string &name, const ir::Param &p) {
  auto it = slots_.find(name);
  if (it == slots_.end()) {
    slots_[name].value = p.data;
    return {};
  }
  // A value held elsewhere has the type of the one kept here: no need to bring it back.
  const ir::HostTensor &v = it->second.value;
  if (!(v.type() == p.data.type()))
    return makeError("shared variable %{} is {}, the graph's parameter of that name is {}", name, toString(v.type()),
                     toString(p.data.type()));
  return {};
}

const ir::HostTensor &SharedVariables::read(const std::string &name) {
  Slot &s = slots_.at(name);
  if (s.holder) {
    if (const ir::HostTensor *t = s.holder->param(name))
      s.value = *t;
    s.holder.reset();
  }
  return s.value;
}

Status SharedVariables::write(const std::string &name, ir::HostTensor value) {
  auto it = slots_.find(name);
  if (it == slots_.end())
    return makeError("there is no shared variable %{}", name);
  Slot &s = it->second;
  if (!(value.type() == s.value.type()))
    return makeError("shared variable %{} is {}, the value given is {}", name, toString(s.value.type()),
                     toString(value.type()));
  s.value = std::move(value);
  s.holder.reset();
  ++s.version;
  return {};
}

uint64_t SharedVariables::heldBy(const std::string &name, std::shared_ptr<Executable> exe) {
  Slot &s = slots_.at(name);
  s.holder = std::move(exe);
  return ++s.version;
}

} // namespace kiln
