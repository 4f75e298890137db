//===- frontend/onnx/Einsum.cpp - ONNX import: Einsum ---------------------===//
//
// Einsum over kiln's primitives: each operand's repeated labels become its
// diagonal (a product with the identity, summed), its dims are transposed
// to one order of all the equation's labels and reshaped with 1s for the
// labels it lacks, the operands multiply by broadcasting, the labels the
// output lacks are summed away, and a transpose gives the output's order.
// `...` stands for the dims no label names, right-aligned across operands
// as NumPy broadcasts them; without `->` the output is the ellipsis dims
// then the labels used once, alphabetically.
//
//===----------------------------------------------------------------------===//
#include "frontend/onnx/Importer.h"

#include <algorithm>
#include <map>

namespace kiln::onnximport {

using namespace ir;

namespace {

using Ints = std::vector<int64_t>;
using Labels = std::vector<int>; ///< a letter's char code; ellipsis dims are 1000 + k

/// One term's labels, `...` expanded to `count` ellipsis labels (the last
/// `count` of `total`).
Expected<Labels> parseTerm(const std::string &term, int rank, int &ellipsisDims) {
  Labels out;
  size_t dots = term.find("...");
  int letters = 0;
  for (char ch : term)
    letters += std::isalpha(static_cast<unsigned char>(ch)) != 0;
  for (size_t i = 0; i < term.size(); ++i) {
    if (i == dots) {
      ellipsisDims = rank - letters;
      if (ellipsisDims < 0)
        return makeError("term '{}' names more dims than its operand's {}", term, rank);
      for (int k = 0; k < ellipsisDims; ++k)
        out.push_back(-1 - k); // renumbered once every term's count is known
      i += 2;
      continue;
    }
    if (!std::isalpha(static_cast<unsigned char>(term[i])))
      return makeError("'{}' in term '{}' is not a letter or '...'", term[i], term);
    out.push_back(term[i]);
  }
  if (dots == std::string::npos && letters != rank)
    return makeError("term '{}' has {} labels for an operand of rank {}", term, letters, rank);
  return out;
}

} // namespace

Status convEinsum(NodeCtx &c) {
  std::string eq;
  for (char ch : c.attrString("equation", ""))
    if (ch != ' ')
      eq += ch;
  size_t arrow = eq.find("->");
  std::string lhs = eq.substr(0, arrow);
  std::vector<std::string> terms;
  for (size_t start = 0;;) {
    size_t comma = lhs.find(',', start);
    terms.push_back(lhs.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (comma == std::string::npos)
      break;
    start = comma + 1;
  }
  if (static_cast<int>(terms.size()) != c.numInputs())
    return c.error(fmt::format("equation '{}' has {} terms for {} inputs", eq, terms.size(), c.numInputs()));
  std::vector<ValueId> xs;
  std::vector<Labels> labels;
  int ellipsis = 0;
  std::vector<int> ellipsisOf;
  for (size_t i = 0; i < terms.size(); ++i) {
    KILN_ASSIGN(ValueId x, c.in(static_cast<int>(i)));
    int e = 0;
    auto l = parseTerm(terms[i], c.typeOf(x).rank(), e);
    if (!l)
      return c.error(l.error().message);
    xs.push_back(x);
    labels.push_back(*l);
    ellipsisOf.push_back(e);
    ellipsis = std::max(ellipsis, e);
  }
  // Ellipsis dims right-aligned: an operand's k-th of e is the
  // (ellipsis - e + k)-th of all.
  for (size_t i = 0; i < labels.size(); ++i)
    for (int &l : labels[i])
      if (l < 0)
        l = 1000 + (ellipsis - ellipsisOf[i]) + (-1 - l);
  Labels output;
  if (arrow != std::string::npos) {
    int e = ellipsis;
    std::string rhs = eq.substr(arrow + 2);
    int letters = 0;
    for (char ch : rhs)
      letters += std::isalpha(static_cast<unsigned char>(ch)) != 0;
    auto l = parseTerm(rhs, letters + (rhs.find("...") != std::string::npos ? ellipsis : 0), e);
    if (!l)
      return c.error(l.error().message);
    for (int &v : *l)
      if (v < 0)
        v = 1000 + (-1 - v);
    output = *l;
  } else {
    std::map<int, int> uses;
    for (const Labels &l : labels)
      for (int v : l)
        ++uses[v];
    for (int k = 0; k < ellipsis; ++k)
      output.push_back(1000 + k);
    for (const auto &[v, n] : uses)
      if (v < 1000 && n == 1)
        output.push_back(v);
  }
  // Each operand's diagonals, then its dims in the order of all labels.
  Labels all;
  for (const Labels &l : labels)
    for (int v : l)
      if (std::find(all.begin(), all.end(), v) == all.end())
        all.push_back(v);
  std::sort(all.begin(), all.end(), [&output](int a, int b) {
    auto ia = std::find(output.begin(), output.end(), a), ib = std::find(output.begin(), output.end(), b);
    if ((ia == output.end()) != (ib == output.end()))
      return ia != output.end(); // the output's labels first, in its order
    return ia != output.end() ? ia < ib : a < b;
  });
  for (int v : output)
    if (std::find(all.begin(), all.end(), v) == all.end())
      return c.error(fmt::format("equation '{}': an output label is in no input", eq));
  ValueId product = kNoValue;
  for (size_t i = 0; i < xs.size(); ++i) {
    ValueId x = xs[i];
    Labels l = labels[i];
    for (;;) { // a repeated label: the diagonal of its two dims
      size_t p = 0, q = 0;
      for (size_t a = 0; a < l.size() && !q; ++a)
        for (size_t b = a + 1; b < l.size() && !q; ++b)
          if (l[a] == l[b])
            p = a, q = b;
      if (!q)
        break;
      const Dim n = c.typeOf(x).shape[p];
      if (!n.isConst())
        return c.unsupported("an Einsum diagonal over a dim unknown at import");
      Sizes es(l.size(), 1);
      es[p] = es[q] = n.value;
      HostTensor eye(c.typeOf(x).dtype, es);
      for (int64_t k = 0; k < n.value; ++k)
        eye.set(k * n.value + k, 1); // only dims p and q are not 1
      KILN_ASSIGN(ValueId e, c.constant(std::move(eye)));
      KILN_ASSIGN(ValueId masked, c.emit(OpKind::Mul, {x, e}));
      KILN_ASSIGN(x, c.emit(OpKind::ReduceSum, {masked}, {{"axes", Ints{static_cast<int64_t>(q)}}, {"keepdims", false}}));
      l.erase(l.begin() + static_cast<long>(q));
    }
    Ints perm;
    Shape shape;
    for (int v : all) {
      auto at = std::find(l.begin(), l.end(), v);
      if (at == l.end()) {
        shape.push_back(Dim::of(1));
        continue;
      }
      perm.push_back(at - l.begin());
      shape.push_back(c.typeOf(x).shape[static_cast<size_t>(at - l.begin())]);
    }
    bool identity = true;
    for (size_t k = 0; k < perm.size(); ++k)
      identity &= perm[k] == static_cast<int64_t>(k);
    if (!identity) {
      KILN_ASSIGN(x, c.emit(OpKind::Transpose, {x}, {{"perm", perm}}));
    }
    if (shape.size() != static_cast<size_t>(c.typeOf(x).rank())) {
      KILN_ASSIGN(x, c.reshapeTo(x, shape));
    }
    if (product == kNoValue) {
      product = x;
    } else {
      KILN_ASSIGN(product, c.emit(OpKind::Mul, {product, x}));
    }
  }
  // The labels the output lacks are summed; the rest are already in its order.
  Ints summed;
  for (size_t k = 0; k < all.size(); ++k)
    if (std::find(output.begin(), output.end(), all[k]) == output.end())
      summed.push_back(static_cast<int64_t>(k));
  ValueId y = product;
  if (!summed.empty()) {
    KILN_ASSIGN(y, c.emit(OpKind::ReduceSum, {product}, {{"axes", summed}, {"keepdims", false}}));
  }
  return c.bind(0, y);
}

} // namespace kiln::onnximport
