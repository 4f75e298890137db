//===- tests/unit/test_dims.cpp - Symbolic dim expressions -----------------===//
#include "Helpers.h"

#include "ir/DimExpr.h"
#include "ir/Parser.h"
#include "ir/Printer.h"
#include "reference/Reference.h"
#include "runtime/Executable.h"

using namespace kiln;
using namespace kiln::ir;

namespace {

Dim sym(const char *s) { return Dim::symbol(s); }

Dim parsed(std::string_view text) {
  auto d = parseDim(text);
  REQUIRE(d);
  return *d;
}

} // namespace

TEST_CASE("dim arithmetic folds constants and keeps one canonical form", "[dims]") {
  CHECK(dimMul(Dim::of(6), Dim::of(7)) == Dim::of(42));
  CHECK(toString(dimMul(sym("N"), Dim::of(64))) == "64*N");
  CHECK(dimMul(Dim::of(64), sym("N")) == dimMul(sym("N"), Dim::of(64)));
  CHECK(toString(dimMul(dimMul(sym("N"), sym("S")), Dim::of(8))) == "8*N*S");
  CHECK(toString(dimSub(sym("S"), Dim::of(1))) == "S-1");
  CHECK(toString(dimAdd(sym("N"), sym("M"))) == "M+N");
  CHECK(dimSub(sym("N"), sym("N")) == Dim::of(0));
  CHECK(dimFloorDiv(dimMul(sym("N"), Dim::of(64)), Dim::of(64)) == sym("N"));
  CHECK(dimFloorDiv(dimMul(sym("N"), sym("C")), sym("C")) == sym("N"));
  CHECK(toString(dimFloorDiv(dimAdd(sym("H"), Dim::of(1)), Dim::of(2))) == "((H+1)/2)");
  CHECK(toString(dimFloorDiv(sym("H"), Dim::of(2))) == "(H/2)");
  CHECK(dimMul(Dim::unknown(), sym("N")).isUnknown());
  CHECK(dimFloorDiv(sym("N"), Dim::of(0)).isUnknown());
  CHECK(dimSub(Dim::of(2), Dim::of(3)).isUnknown()); // no negative sizes
  CHECK(isNamedSymbol(sym("batch_size")));
  CHECK_FALSE(isNamedSymbol(dimMul(sym("N"), Dim::of(2))));
}

TEST_CASE("dim expressions parse back to themselves and evaluate with floor division", "[dims]") {
  for (const char *text : {"64*N", "8*N*S", "S-1", "M+N", "((H+1)/2)", "(H/2)", "2*((H+1)/2)+1", "-N+S"}) {
    Dim d = parsed(text);
    CHECK(toString(d) == text);
    CHECK(parsed(toString(d)) == d);
  }
  CHECK(parsed("N * 64") == parsed("64*N"));
  CHECK(parsed("(N+1)*(N-1)") == parsed("N*N-1"));
  CHECK(parsed("12") == Dim::of(12));
  DimBindings env{{"N", 3}, {"H", 7}, {"S", 5}};
  CHECK(*evalDim(parsed("64*N"), env) == 192);
  CHECK(*evalDim(parsed("((H+1)/2)"), env) == 4);
  CHECK(*evalDim(parsed("(H-9)/2+5"), env) == 4); // floor(-2/2) + 5
  CHECK(parsed("(H-2)/2+1") == parsed("H/2"));     // the constant reduced into [0, 2)
  CHECK(toString(parsed("(2*N+H+3)/2")) == "((H+1)/2)+N+1");
  CHECK_FALSE(*evalDim(parsed("N*M"), env));       // M unbound
  auto negative = evalDim(parsed("S-6"), env);
  REQUIRE_FALSE(negative);
  CHECK(negative.error().message == "dim S-6 is -1 (negative) at S = 5");
  CHECK(dimSymbols(parsed("N*S+((H+1)/2)")) == std::set<std::string>{"H", "N", "S"});
  CHECK_FALSE(parseDim("N*"));
  CHECK_FALSE(parseDim("N/0"));
  CHECK_FALSE(parseDim("2-3"));
}

TEST_CASE("type rules give dim expressions where shapes are symbolic", "[dims]") {
  auto g = parse(R"(graph @g {
  input %x : f32[N,S,4]
  input %img : f32[N,3,H,W]
  input %w : f32[8,3,3,3]
  %flat = reshape(%x) {shape=[-1]} : f32[4*N*S]
  %rows = reshape(%x) {shape=[-1,4]} : f32[N*S,4]
  %back = reshape(%rows) {shape=[0,2,2]} : f32[N*S,2,2]
  %both = concat(%x, %x) {axis=1} : f32[N,2*S,4]
  %tail = slice(%x) {starts=[1], ends=[9223372036854775807], axes=[1]} : f32[N,S-1,4]
  %c = conv(%img, %w) {pad=[1,1,1,1], stride=[2,2]} : f32[N,8,((H+1)/2),((W+1)/2)]
  %p = max_pool(%img) {kernel=[2,2]} : f32[N,3,(H/2),(W/2)]
  output %flat, %rows, %back, %both, %tail, %c, %p
})");
  if (!g)
    FAIL(g.error().message);
  // The printed graph parses back to the same text.
  std::string text = print(*g);
  auto again = parse(text);
  REQUIRE(again);
  CHECK(print(*again) == text);
  // A mismatched expression is a type error naming both.
  auto bad = parse(R"(graph @g {
  input %x : f32[N,S,4]
  %flat = reshape(%x) {shape=[-1]} : f32[4*N]
  output %flat
})");
  REQUIRE_FALSE(bad);
  CHECK(bad.error().message.find("4*N*S") != std::string::npos);
}

TEST_CASE("graphs with dim expressions run at any size on the reference and LLVM", "[dims]") {
  auto g = parse(R"(graph @g {
  input %x : f32[N,S,4]
  input %img : f32[N,3,H,W]
  input %w : f32[8,3,3,3]
  %rows = reshape(%x) {shape=[-1,4]} : f32[N*S,4]
  %both = concat(%rows, %rows) {axis=0} : f32[2*N*S,4]
  %y = relu(%both) : f32[2*N*S,4]
  %c = conv(%img, %w) {pad=[1,1,1,1], stride=[2,2]} : f32[N,8,((H+1)/2),((W+1)/2)]
  %p = max_pool(%c) {kernel=[2,2]} : f32[N,8,(((H+1)/2)/2),(((W+1)/2)/2)]
  %f = reshape(%p) {shape=[0,-1]} : f32[N,8*(((H+1)/2)/2)*(((W+1)/2)/2)]
  output %y, %f
})");
  if (!g)
    FAIL(g.error().message);
  for (auto [n, s, h] : {std::tuple{2, 3, 9}, std::tuple{1, 5, 12}}) {
    ref::TensorMap feeds{{"x", test::randomTensor({n, s, 4}, 1, DType::F32)},
                         {"img", test::randomTensor({n, 3, h, h + 1}, 2, DType::F32)},
                         {"w", test::randomTensor({8, 3, 3, 3}, 3, DType::F32)}};
    auto want = ref::evaluate(*g, feeds);
    REQUIRE(want);
    int64_t side = ((h - 1) / 2 + 1) / 2, side2 = ((h + 1 - 1) / 2 + 1) / 2;
    CHECK(want->outputs[0].sizes() == Sizes{2 * n * s, 4});
    CHECK(want->outputs[1].sizes() == Sizes{n, 8 * side * side2});
    std::map<std::string, Sizes> sizes;
    for (const auto &[name, t] : feeds)
      sizes[name] = t.sizes();
    auto exe = Executable::compile(*g, sizes);
    REQUIRE(exe);
    auto got = (*exe)->run(feeds);
    REQUIRE(got);
    for (size_t i = 0; i < 2; ++i) {
      REQUIRE(got->outputs[i].sizes() == want->outputs[i].sizes());
      for (int64_t k = 0; k < want->outputs[i].numElements(); ++k)
        CHECK(got->outputs[i].get(k) == Approx(want->outputs[i].get(k)).margin(1e-5));
    }
  }
}
