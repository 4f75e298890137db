//===- tests/unit/test_parser.cpp - .kir parsing, printing and its errors --===//
#include "Helpers.h"

#include "ir/Dot.h"
#include "ir/Verifier.h"

using namespace kiln;
using namespace kiln::ir;

namespace {
/// The error message of parsing `text`, which must fail.
std::string parseError(const std::string &text) {
  auto g = parse(text, "bad.kir");
  REQUIRE_FALSE(g);
  return g.error().message;
}
} // namespace

TEST_CASE("syntax errors name file:line:column and what was expected", "[parser]") {
  CHECK(parseError("") == "bad.kir:1:1: error: expected 'graph', got end of file");
  CHECK(parseError("graph {") == "bad.kir:1:7: error: expected the graph's name '@name'");
  CHECK(parseError("graph @g {\n  input %x f32[2]\n}") == "bad.kir:2:12: error: expected ':', got 'f32'");
  CHECK(parseError("graph @g {\n  input %x : f33[2]\n}") ==
        "bad.kir:2:14: error: unknown dtype 'f33' (expected f32, f64, f16, bf16, i64, i32, i8, u8 or bool)");
  CHECK(parseError("graph @g {\n  input %x : f32[2,-3]\n}") == "bad.kir:2:20: error: dimension -3 is negative");
  CHECK(parseError("graph @g {\n  input %x : f32[2]\n") == "bad.kir:3:1: error: expected '}' to close the graph");
  CHECK(parseError("graph @g {\n  input %x : f32[2]\n} extra") ==
        "bad.kir:3:3: error: expected end of file after the graph, got 'extra'");
  CHECK(parseError("graph @g {\n  $\n}") ==
        "bad.kir:2:3: error: expected a statement (input, param, const, a node '%name = op(...)', output or update), "
        "got character '$'");
  CHECK(parseError("graph @g {\n  input %\"x : f32[2]\n}") ==
        "bad.kir:2:9: error: expected a value name '%name', got unterminated quoted name");
  CHECK(parseError("graph @g {\n  input %x : f32[99999999999999999999]\n}") ==
        "bad.kir:2:18: error: integer 99999999999999999999 does not fit in 64 bits");
  CHECK(parseError("graph @g {\n  input %x : f32[4294967296,4294967296]\n}") ==
        "bad.kir:2:29: error: the shape's element count overflows 64 bits");
}

TEST_CASE("semantic errors name the node, op, value or attribute", "[parser]") {
  std::string head = "graph @g {\n  input %x : f32[N,4]\n";
  CHECK(parseError(head + "  %y = frobnicate(%x) : f32[N,4]\n}") == "bad.kir:3:8: error: unknown op 'frobnicate'");
  CHECK(parseError(head + "  %y = relu(%z) : f32[N,4]\n}") == "bad.kir:3:13: error: use of undefined value '%z'");
  CHECK(parseError(head + "  %y = relu(%x) : f32[N,5]\n}") ==
        "bad.kir:3:19: error: node %y: declared type f32[N,5] but op 'relu' gives f32[N,4]");
  CHECK(parseError(head + "  %y = add(%x, %x, %x) : f32[N,4]\n}") ==
        "bad.kir:3:8: error: node %y: op 'add' takes 2 operands (a, b), got 3");
  CHECK(parseError(head + "  %y = softmax(%x) {axis=\"one\"} : f32[N,4]\n}") ==
        "bad.kir:3:8: error: node %y: attribute 'axis' of op 'softmax' must be a int, got \"one\"");
  CHECK(parseError(head + "  %y = softmax(%x) {axis=1, axis=0} : f32[N,4]\n}") ==
        "bad.kir:3:8: error: node %y: attribute 'axis' of op 'softmax' is given twice");
  CHECK(parseError(head + "  param %w : f32[3,2] = zeros\n  %y = matmul(%x, %w) : f32[N,2]\n}") ==
        "bad.kir:4:8: error: node %y: matmul(%x: f32[N,4], %w: f32[3,2]): contracted dims of f32[N,4] and f32[3,2]: 4 "
        "does not match 3");
  CHECK(parseError(head + "  %x = relu(%x) : f32[N,4]\n}") == "bad.kir:3:8: error: node %x: the name %x is already defined");
  CHECK(parseError(head + "  %a, %b = relu(%x) : f32[N,4], f32[N,4]\n}") ==
        "bad.kir:3:12: error: node %a: op 'relu' has 1 results, 2 names given");
  CHECK(parseError(head + "  param %w : f32[2] = [1, 2, 3]\n}") == "bad.kir:3:23: error: f32[2] needs 2 values, got 3");
  CHECK(parseError(head + "  param %w : f32[N] = zeros\n}") ==
        "bad.kir:3:14: error: parameter %w must have a constant shape, got f32[N]");
  CHECK(parseError(head + "  param %w : f32[2] = xavier(seed=1)\n}") ==
        "bad.kir:3:23: error: unknown initializer 'xavier' (expected zeros, constant, uniform, normal, glorot_uniform, "
        "glorot_normal, he_uniform or he_normal)");
  CHECK(parseError(head + "  param %w : f32[4] = zeros\n  update %w <- %x\n}") ==
        "bad.kir:4:3: error: update of %w: f32[N,4] does not match the parameter's type f32[4]");
  CHECK(parseError(head + "  update %x <- %x\n}") == "bad.kir:3:3: error: update target %x is not a parameter");
  CHECK(parseError(head + "  output %nope\n}") == "bad.kir:3:10: error: use of undefined value '%nope'");
  ParseOptions small;
  small.maxInitElements = 100;
  auto big = parse(head + "  param %w : f32[1000] = zeros\n}", "big.kir", small);
  REQUIRE_FALSE(big);
  CHECK(big.error().message == "big.kir:3:14: error: parameter %w has 1000 elements, more than the limit of 100");
}

TEST_CASE("printing: defaults omitted, data exact, odd names quoted", "[parser][printer]") {
  std::string text = "graph @\"my model\" {\n"
                     "  input %\"in put\" : f32[N,3]\n"
                     "  param %w : f32[3] = [0.1, -2.5e-08, inf]\n"
                     "  param %u : f32[2] = uniform(-0.5, 0.5, seed=3)\n"
                     "  const %c : i64[2,2] = [1, -2, 9223372036854775807, 0]\n"
                     "  const %h : f16[2] = [0.33325195, nan]\n"
                     "  const %flag : bool[2] = [true, false]\n"
                     "  %y = mul(%\"in put\", %w) : f32[N,3]\n"
                     "  %s = reduce_sum(%y) {axes=[1], keepdims=true} : f32[N,1]\n"
                     "  %t = leaky_relu(%s) : f32[N,1]\n"
                     "  output %t\n"
                     "  update %w <- %w\n"
                     "}\n";
  auto g = parse(text, "p.kir");
  if (!g)
    FAIL(g.error().message);
  CHECK(print(*g) == text);
  CHECK(verify(*g));
  // An attribute given at its default value is not printed.
  auto d = parse("graph @g {\n  input %x : f32[2]\n  %y = leaky_relu(%x) {alpha=0.01} : f32[2]\n}\n");
  REQUIRE(d);
  CHECK(print(*d) == "graph @g {\n  input %x : f32[2]\n  %y = leaky_relu(%x) : f32[2]\n}\n");
  // Symbolic shapes in attributes, layouts in types.
  auto s = parse("graph @g {\n  input %x : f32[1,8,2,2]\n  %b = broadcast_to(%x) {shape=[N,8,2,2]} : f32[N,8,2,2]\n"
                 "  %l = layout_convert(%b) {layout=nchw8c} : f32[N,8,2,2]{nchw8c}\n}\n");
  if (!s)
    FAIL(s.error().message);
  CHECK(print(*parse(print(*s))) == print(*s));
}

TEST_CASE("dot export draws every value and node", "[printer][dot]") {
  auto g = parseFile(KILN_SOURCE_DIR "/examples/lenet5.kir");
  REQUIRE(g);
  std::string dot = toDot(*g);
  CHECK(dot.rfind("digraph \"lenet5\" {", 0) == 0);
  CHECK(dot.find("param %conv1.w\\nf32[6,1,5,5]") != std::string::npos);
  CHECK(dot.find("label=\"conv\\n%c1 : f32[N,6,28,28]\"") != std::string::npos);
  CHECK(dot.find("out0 [shape=doublecircle") != std::string::npos);
  size_t nodes = 0;
  for (size_t p = dot.find("shape=ellipse"); p != std::string::npos; p = dot.find("shape=ellipse", p + 1))
    ++nodes;
  CHECK(nodes == g->nodes().size());
}

TEST_CASE("the verifier catches what passes could break", "[verifier]") {
  auto g = parse("graph @g {\n  input %x : f32[2]\n  param %p : f32[2] = zeros\n  %y = relu(%x) : f32[2]\n  output %y\n}\n");
  REQUIRE(g);
  CHECK(verify(*g));
  Graph broken = *g;
  broken.params()[0].data = HostTensor(DType::F32, {3});
  auto s = verify(broken);
  REQUIRE_FALSE(s);
  CHECK(s.error().message == "parameter %p holds f32[3] but is declared f32[2]");
}
