//===- ir/Error.h - Errors as values ---------------------------*- C++ -*-===//
//
// kiln never throws across its public API and never aborts on user input.
// Fallible functions return Expected<T> (a value or an Error) or Status
// (Expected<void>); the message names the file, node, op or input at fault.
//
//===----------------------------------------------------------------------===//
#pragma once

#include <fmt/format.h>

#include <cassert>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>
#include <variant>

namespace kiln {

/// A user-facing error: one self-contained sentence (or a few lines) that
/// names what is wrong and where.
struct Error {
  std::string message;
};

/// Builds an Error from a fmt format string.
template <typename... Args>
Error makeError(fmt::format_string<Args...> f, Args &&...args) {
  return Error{fmt::format(f, std::forward<Args>(args)...)};
}

/// Reading the value of a failed Expected (or the error of a good one) is a
/// bug in the caller: this says so on stderr, with the error it ignored,
/// and aborts (instead of std::bad_variant_access and no message).
[[noreturn]] inline void uncheckedExpected(const Error *ignored) {
  if (ignored)
    std::fprintf(stderr, "kiln: the value of a failed result was read without checking it; the error was:\n%s\n",
                 ignored->message.c_str());
  else
    std::fprintf(stderr, "kiln: the error of a successful result was read\n");
  std::abort();
}

/// A value of type T or an Error. Test with `if (!x)`, read with `*x`.
template <typename T> class [[nodiscard]] Expected {
public:
  Expected(T value) : v_(std::in_place_index<0>, std::move(value)) {}
  Expected(Error error) : v_(std::in_place_index<1>, std::move(error)) {}

  explicit operator bool() const { return v_.index() == 0; }
  T &operator*() {
    if (v_.index() != 0)
      uncheckedExpected(std::get_if<1>(&v_));
    return *std::get_if<0>(&v_);
  }
  const T &operator*() const {
    if (v_.index() != 0)
      uncheckedExpected(std::get_if<1>(&v_));
    return *std::get_if<0>(&v_);
  }
  T *operator->() { return &**this; }
  const T *operator->() const { return &**this; }
  const Error &error() const {
    if (v_.index() != 1)
      uncheckedExpected(nullptr);
    return *std::get_if<1>(&v_);
  }
  /// Moves the value out.
  T take() { return std::move(**this); }

private:
  std::variant<T, Error> v_;
};

/// Success or an Error.
template <> class [[nodiscard]] Expected<void> {
public:
  Expected() = default;
  Expected(Error error) : error_(std::move(error)), failed_(true) {}
  explicit operator bool() const { return !failed_; }
  const Error &error() const {
    if (!failed_)
      uncheckedExpected(nullptr);
    return error_;
  }

private:
  Error error_;
  bool failed_ = false;
};

using Status = Expected<void>;

} // namespace kiln

#define KILN_CONCAT_INNER(a, b) a##b
#define KILN_CONCAT(a, b) KILN_CONCAT_INNER(a, b)

/// `KILN_ASSIGN(ValueId x, expr);` declares (or assigns) x from an Expected, or
/// returns its error from the enclosing function. It is several statements:
/// put it in braces under an `if`.
#define KILN_ASSIGN(decl, expr)                                                \
  auto KILN_CONCAT(kiln_assign_, __LINE__) = (expr);                           \
  if (!KILN_CONCAT(kiln_assign_, __LINE__))                                    \
    return KILN_CONCAT(kiln_assign_, __LINE__).error();                        \
  decl = KILN_CONCAT(kiln_assign_, __LINE__).take()

/// Returns the error of a failed Expected from the enclosing function.
#define KILN_TRY(expr)                                                         \
  do {                                                                         \
    if (auto kiln_try_status_ = (expr); !kiln_try_status_)                     \
      return kiln_try_status_.error();                                         \
  } while (0)
