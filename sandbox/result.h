#pragma once
// Expected failures as values: an Error carries the failing call's name and errno.

#include <cerrno>
#include <string>
#include <utility>
#include <variant>

namespace mpexec {

/// What failed: a syscall (or step) name, its errno (0 when none applies) and optional detail.
struct Error {
  std::string call;
  int err = 0;
  std::string detail;

  /// "call: strerror(err): detail", leaving out the empty parts.
  std::string message() const;
};

/// An Error from the current errno.
Error sysError(std::string call, std::string detail = {});

/// Either a T or an Error. Result<void> holds only the error or nothing.
template <class T>
class Result {
 public:
  Result(T value) : v_(std::move(value)) {}
  Result(Error e) : v_(std::move(e)) {}
  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() { return std::get<0>(v_); }
  const T& value() const { return std::get<0>(v_); }
  T& operator*() { return value(); }
  T* operator->() { return &value(); }
  const Error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

template <>
class Result<void> {
 public:
  Result() = default;
  Result(Error e) : e_(std::move(e)), ok_(false) {}
  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const { return e_; }

 private:
  Error e_;
  bool ok_ = true;
};

/// Returns the error of `expr` (a Result) from the enclosing function.
#define MPEXEC_TRY(expr)                     \
  do {                                       \
    if (auto _r = (expr); !_r.ok()) {        \
      return _r.error();                     \
    }                                        \
  } while (0)

}  // namespace mpexec
