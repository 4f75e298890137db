//===- tests/unit/test_ops.cpp - Type inference and round trip of every op -===//
//
// One table of cases: an op, its operand types, attributes, and either the
// result types it must infer or a fragment of the error it must give. Each
// valid case is also printed, parsed and printed again (the round trip).
// A test checks that every op of the table has a valid and an error case.
//
//===----------------------------------------------------------------------===//
#include "Helpers.h"

#include "ir/Verifier.h"

#include <set>

using namespace kiln;
using namespace kiln::ir;

namespace {

struct Case {
  const char *op;
  std::vector<const char *> operands;
  const char *attrs; ///< "" or "{...}"
  const char *expect; ///< result types, or "error: fragment"
};

// clang-format off
const std::vector<Case> kCases = {
  // Unary elementwise.
  {"neg", {"f32[N,3]"}, "", "f32[N,3]"},
  {"neg", {"bool[3]"}, "", "error: must be numeric"},
  {"abs", {"i32[4]"}, "", "i32[4]"},
  {"abs", {"bool[4]"}, "", "error: must be numeric"},
  {"exp", {"f64[2,?]"}, "", "f64[2,?]"},
  {"expm1", {"f32[3]"}, "", "f32[3]"},
  {"hard_swish", {"f32[N,3]"}, "", "f32[N,3]"},
  {"hard_swish", {"i64[3]"}, "", "error: must be floating-point"},
  {"gelu", {"f64[2]"}, "", "f64[2]"},
  {"gelu", {"bool[2]"}, "", "error: must be floating-point"},
  {"expm1", {"i32[3]"}, "", "error: must be floating-point"},
  {"exp", {"i64[3]"}, "", "error: must be floating-point"},
  {"log", {"f32[N]"}, "", "f32[N]"},
  {"log", {"i32[2]"}, "", "error: must be floating-point"},
  {"log1p", {"f16[N]"}, "", "f16[N]"},
  {"log1p", {"u8[2]"}, "", "error: must be floating-point"},
  {"sqrt", {"bf16[2,2]"}, "", "bf16[2,2]"},
  {"sqrt", {"i8[2]"}, "", "error: must be floating-point"},
  {"rsqrt", {"f32[1]"}, "", "f32[1]"},
  {"rsqrt", {"bool[1]"}, "", "error: must be floating-point"},
  {"reciprocal", {"f64[]"}, "", "f64[]"},
  {"reciprocal", {"i64[]"}, "", "error: must be floating-point"},
  {"tanh", {"f32[N,8]"}, "", "f32[N,8]"},
  {"tanh", {"i32[2]"}, "", "error: must be floating-point"},
  {"sigmoid", {"f32[0]"}, "", "f32[0]"},
  {"sigmoid", {"i32[2]"}, "", "error: must be floating-point"},
  {"relu", {"f32[N,4]"}, "", "f32[N,4]"},
  {"relu", {"bool[1]"}, "", "error: must be numeric"},
  {"leaky_relu", {"f32[3]"}, "{alpha=0.2}", "f32[3]"},
  {"leaky_relu", {"f32[3]"}, "{alpha=\"x\"}", "error: attribute 'alpha' of op 'leaky_relu' must be a float"},
  {"elu", {"f32[3]"}, "{alpha=0.5}", "f32[3]"},
  {"elu", {"i8[2]"}, "", "error: must be floating-point"},
  {"selu", {"f32[3]"}, "{alpha=1.5, gamma=1.1}", "f32[3]"},
  {"selu", {"f32[3]"}, "{beta=1.0}", "error: op 'selu' has no attribute 'beta' (it takes: alpha, gamma)"},
  {"softplus", {"f32[3]"}, "", "f32[3]"},
  {"softplus", {"i32[3]"}, "", "error: must be floating-point"},
  {"softsign", {"f32[3]"}, "", "f32[3]"},
  {"softsign", {"i32[3]"}, "", "error: must be floating-point"},
  {"sign", {"i64[3]"}, "", "i64[3]"},
  {"sign", {"bool[3]"}, "", "error: must be numeric"},
  {"floor", {"f32[3]"}, "", "f32[3]"},
  {"floor", {"i32[3]"}, "", "error: must be floating-point"},
  {"ceil", {"f32[3]"}, "", "f32[3]"},
  {"ceil", {"i32[3]"}, "", "error: must be floating-point"},
  {"round", {"f32[3]"}, "", "f32[3]"},
  {"round", {"i32[3]"}, "", "error: must be floating-point"},
  {"erf", {"f32[3]"}, "", "f32[3]"},
  {"erf", {"i32[3]"}, "", "error: must be floating-point"},
  {"sin", {"f32[3]"}, "", "f32[3]"},
  {"top_k", {"f32[N,5]"}, "{k=2}", "i64[N,2]"},
  {"top_k", {"f32[N,5]"}, "{k=7, axis=1}", "error: k = 7 must be in [0, 5]"},
  {"scatter_elements", {"f32[4,3]", "i64[2,3]", "f32[2,3]"}, "{reduction=\"add\"}", "f32[4,3]"},
  {"scatter_elements", {"f32[4,3]", "f32[2,3]", "f32[2,3]"}, "", "error: indices must be an integer tensor"},
  {"cumsum", {"i32[2,3]"}, "{axis=1, reverse=true}", "i32[2,3]"},
  {"resize", {"f32[N,3,4,5]"}, "{scales=[1.0,1.0,2.0,0.5], mode=\"linear\"}", "f32[N,3,8,2]"},
  {"resize", {"f32[N,3,4,5]"}, "{sizes=[-1,-1,7,7], scales=[2.0,1.0,1.0,1.0]}", "f32[2*N,3,7,7]"},
  {"resize", {"f32[2,3]"}, "{scales=[1.0,2.0], mode=\"area\"}", "error: mode must be nearest, linear or cubic"},
  {"gather_nd", {"f32[N,4,5]", "i64[N,3,1]"}, "{batch_dims=1}", "f32[N,3,5]"},
  {"gather_nd", {"f32[4,5]", "i64[3,3]"}, "", "error: batch_dims 0 and k = 3 do not fit"},
  {"scatter_nd", {"f32[4,5]", "i64[3,1]", "f32[3,5]"}, "{reduction=\"mul\"}", "f32[4,5]"},
  {"scatter_nd", {"f32[4,5]", "i64[3,1]", "f32[3,4]"}, "", "error: dim 1 of updates: 5 does not match 4"},
  {"cumsum", {"f32[2,3]"}, "{axis=2}", "error: axis 2 is out of range"},
  {"fmod", {"f32[2,3]", "f32[3]"}, "", "f32[2,3]"},
  {"fmod", {"f32[3]", "i32[3]"}, "", "error: different dtypes"},
  {"atan", {"f32[3]"}, "", "f32[3]"},
  {"atan", {"i32[3]"}, "", "error: must be floating-point"},
  {"asin", {"f32[3]"}, "", "f32[3]"},
  {"asin", {"i32[3]"}, "", "error: must be floating-point"},
  {"acos", {"f64[3]"}, "", "f64[3]"},
  {"acos", {"i64[3]"}, "", "error: must be floating-point"},
  {"asinh", {"f32[N]"}, "", "f32[N]"},
  {"asinh", {"bool[3]"}, "", "error: must be floating-point"},
  {"acosh", {"f32[3]"}, "", "f32[3]"},
  {"acosh", {"i8[3]"}, "", "error: must be floating-point"},
  {"atanh", {"f32[3]"}, "", "f32[3]"},
  {"atanh", {"u8[3]"}, "", "error: must be floating-point"},
  {"sin", {"i32[3]"}, "", "error: must be floating-point"},
  {"cos", {"f32[3]"}, "", "f32[3]"},
  {"cos", {"i32[3]"}, "", "error: must be floating-point"},
  // Binary and ternary elementwise, with broadcasting.
  {"add", {"f32[N,1,5]", "f32[3,1]"}, "", "f32[N,3,5]"},
  {"add", {"f32[3]", "f32[4]"}, "", "error: shapes [3] and [4] do not broadcast"},
  {"sub", {"i32[2,3]", "i32[]"}, "", "i32[2,3]"},
  {"sub", {"f32[2]", "f64[2]"}, "", "error: operands have different dtypes: f32[2] and f64[2]"},
  {"mul", {"f32[N,4]", "f32[M,4]"}, "", "f32[?,4]"},
  {"mul", {"bool[2]", "bool[2]"}, "", "error: must be numeric"},
  {"div", {"f32[5]", "f32[1]"}, "", "f32[5]"},
  {"div", {"f32[5,2]", "f32[2,5]"}, "", "error: do not broadcast"},
  {"pow", {"f32[2,2]", "f32[2,1]"}, "", "f32[2,2]"},
  {"pow", {"f32[2]", "i32[2]"}, "", "error: different dtypes"},
  {"max", {"f32[N]", "f32[1]"}, "", "f32[N]"},
  {"max", {"f32[2]", "f32[3]"}, "", "error: do not broadcast"},
  {"min", {"i64[2]", "i64[2]"}, "", "i64[2]"},
  {"min", {"i64[2]", "i32[2]"}, "", "error: different dtypes"},
  {"equal", {"i64[N]", "i64[N]"}, "", "bool[N]"},
  {"equal", {"i64[N]", "f32[N]"}, "", "error: different dtypes"},
  {"less", {"f32[2,1]", "f32[3]"}, "", "bool[2,3]"},
  {"less", {"f32[2]", "f32[3]"}, "", "error: do not broadcast"},
  {"greater", {"f32[4]", "f32[]"}, "", "bool[4]"},
  {"greater", {"f32[4]", "f64[]"}, "", "error: different dtypes"},
  {"and", {"bool[3]", "bool[1]"}, "", "bool[3]"},
  {"and", {"f32[3]", "bool[3]"}, "", "error: operands must be bool"},
  {"or", {"bool[2,2]", "bool[2]"}, "", "bool[2,2]"},
  {"or", {"i8[2]", "i8[2]"}, "", "error: operands must be bool"},
  {"select", {"bool[N,1]", "f32[N,4]", "f32[4]"}, "", "f32[N,4]"},
  {"select", {"f32[2]", "f32[2]", "f32[2]"}, "", "error: cond must be bool"},
  {"cast", {"f32[N,2]"}, "{to=i32}", "i32[N,2]"},
  {"cast", {"f32[N,2]"}, "", "error: op 'cast' needs attribute 'to' (dtype)"},
  {"clip", {"f32[3]"}, "{min=0.0, max=6.0}", "f32[3]"},
  {"clip", {"bool[2]"}, "", "error: must be numeric"},
  // Reductions.
  {"reduce_sum", {"f32[N,3,4]"}, "{axes=[1], keepdims=false}", "f32[N,4]"},
  {"reduce_sum", {"f32[N,3,4]"}, "{axes=[3]}", "error: axis 3 is out of range for rank 3"},
  {"reduce_mean", {"f32[2,3]"}, "{axes=[-1], keepdims=true}", "f32[2,1]"},
  {"reduce_mean", {"f32[2,3]"}, "{axes=[-1]}", "f32[2]"}, // keepdims defaults to false
  {"reduce_mean", {"f32[2,3]"}, "{axes=[0,-2]}", "error: axis -2 is repeated"},
  {"reduce_max", {"f32[2,3]"}, "", "f32[]"},
  {"reduce_max", {"bool[2]"}, "", "error: must be numeric"},
  {"reduce_min", {"i32[5,2]"}, "{axes=[0], keepdims=false}", "i32[2]"},
  {"reduce_min", {"i32[5,2]"}, "{axes=[-3]}", "error: out of range"},
  {"reduce_prod", {"f32[2,3]"}, "{keepdims=false}", "f32[]"},
  {"reduce_prod", {"f32[2,3]"}, "{keepdims=1}", "error: attribute 'keepdims' of op 'reduce_prod' must be a bool"},
  {"argmax", {"f32[N,10]"}, "{axis=1, keepdims=false}", "i64[N]"},
  {"argmax", {"f32[N,10]"}, "{axis=2}", "error: axis 2 is out of range"},
  {"argmin", {"f32[3,4]"}, "{axis=-1, keepdims=true}", "i64[3,1]"},
  {"argmin", {"f32[]"}, "", "error: must have rank >= 1"},
  // Contractions.
  {"matmul", {"f32[N,784]", "f32[784,10]"}, "", "f32[N,10]"},
  {"matmul", {"f32[2,1,3,4]", "f32[5,4,6]"}, "", "f32[2,5,3,6]"},
  {"matmul", {"f32[4,3]", "f32[6,4]"}, "{transpose_a=true, transpose_b=true}", "f32[3,6]"},
  {"matmul", {"f32[4]", "f32[4,6]"}, "", "f32[6]"},
  {"matmul", {"f32[4]", "f32[4]"}, "", "f32[]"},
  {"matmul", {"f32[3,4]", "f32[5,6]"}, "", "error: contracted dims of f32[3,4] and f32[5,6]: 4 does not match 5"},
  {"conv", {"f32[N,3,32,32]", "f32[8,3,3,3]"}, "{pad=[1,1,1,1]}", "f32[N,8,32,32]"},
  {"conv", {"f32[1,2,10]", "f32[4,2,3]"}, "{stride=[2]}", "f32[1,4,4]"},
  {"conv", {"f32[1,1,4,4,4]", "f32[2,1,2,2,2]"}, "", "f32[1,2,3,3,3]"},
  {"conv", {"f32[1,4,5,5]", "f32[6,2,3,3]"}, "{groups=2}", "f32[1,6,3,3]"},
  {"conv", {"f32[1,1,7,7]", "f32[1,1,3,3]"}, "{dilation=[2,2]}", "f32[1,1,3,3]"},
  {"conv", {"f32[1,1,5,6]", "f32[1,1,3,3]"}, "{pad=[0,1,2,0], stride=[2,1]}", "f32[1,1,3,5]"},
  {"conv", {"f32[1,3,5,5]", "f32[8,2,3,3]"}, "", "error: w's input channels times groups vs x's channels: 2 does not match 3"},
  {"conv", {"f32[1,1,2,2]", "f32[1,1,3,3]"}, "", "error: window of extent 3 is larger than the padded input (2)"},
  {"conv", {"f32[1,1,5,5]", "f32[1,1,3,3]"}, "{pad=[1,1]}", "error: pad must have 4 entries"},
  {"conv_transpose", {"f32[1,2,3,3]", "f32[2,4,3,3]"}, "{stride=[2,2]}", "f32[1,4,7,7]"},
  {"conv_transpose", {"f32[1,2,3,3]", "f32[2,4,3,3]"}, "{stride=[2,2], output_padding=[1,1]}", "f32[1,4,8,8]"},
  {"conv_transpose", {"f32[1,2,3,3]", "f32[3,4,3,3]"}, "", "error: 3 does not match 2"},
  {"conv_grad_input", {"f32[N,8,32,32]", "f32[8,3,3,3]"}, "{pad=[1,1,1,1], input_size=[32,32]}", "f32[N,3,32,32]"},
  {"conv_grad_input", {"f32[N,8,32,32]", "f32[8,3,3,3]"}, "{pad=[1,1,1,1], input_size=[30,30]}", "error: the window over size 30 gives 30"},
  {"conv_grad_weight", {"f32[N,3,32,32]", "f32[N,8,32,32]"}, "{pad=[1,1,1,1], kernel_size=[3,3]}", "f32[8,3,3,3]"},
  {"conv_grad_weight", {"f32[N,3,32,32]", "f32[N,8,32,32]"}, "{pad=[1,1,1,1], kernel_size=[5,5]}", "error: gives 30"},
  // Pooling.
  {"max_pool", {"f32[N,6,28,28]"}, "{kernel=[2,2], stride=[2,2]}", "f32[N,6,14,14]"},
  {"max_pool", {"f32[1,1,5,5]"}, "{kernel=[2,2], stride=[2,2], ceil_mode=true}", "f32[1,1,3,3]"},
  {"max_pool", {"f32[1,1,9]"}, "{kernel=[3]}", "f32[1,1,3]"}, // the stride defaults to the kernel
  {"max_pool", {"f32[1,1,9]"}, "{kernel=[3], stride=[1]}", "f32[1,1,7]"},
  {"max_pool", {"f32[1,1,9,9]"}, "{kernel=[2]}", "error: kernel must have 2 entries"},
  {"max_pool", {"f32[1,1,9,9]"}, "", "error: op 'max_pool' needs attribute 'kernel'"},
  {"avg_pool", {"f32[1,1,4,4,4]"}, "{kernel=[2,2,2], stride=[1,1,1], pad=[1,1,1,1,1,1], count_include_pad=true}", "f32[1,1,5,5,5]"},
  {"avg_pool", {"i32[1,1,4,4]"}, "{kernel=[2,2]}", "error: must be floating-point"},
  {"global_avg_pool", {"f32[N,64,7,7]"}, "", "f32[N,64,1,1]"},
  {"global_avg_pool", {"i32[N,64,7,7]"}, "", "i32[N,64,1,1]"},
  {"global_avg_pool", {"f32[3,4]"}, "", "error: must have rank >= 3"},
  {"global_max_pool", {"f32[2,3,4]"}, "", "f32[2,3,1]"},
  {"global_max_pool", {"bool[2,3,4]"}, "", "error: must be numeric"},
  {"max_pool", {"u8[1,1,4,4]"}, "{kernel=[2,2]}", "u8[1,1,2,2]"},
  {"max_pool_grad", {"f32[N,6,14,14]", "f32[N,6,28,28]"}, "{kernel=[2,2], stride=[2,2]}", "f32[N,6,28,28]"},
  {"max_pool_grad", {"f32[N,6,13,13]", "f32[N,6,28,28]"}, "{kernel=[2,2], stride=[2,2]}", "error: max_pool of x"},
  {"avg_pool_grad", {"f32[1,1,2,2]"}, "{kernel=[2,2], stride=[2,2], input_size=[4,4]}", "f32[1,1,4,4]"},
  {"avg_pool_grad", {"f32[1,1,2,2]"}, "{kernel=[2,2], stride=[2,2], input_size=[7,7]}", "error: gives 3"},
  // Data movement.
  {"identity", {"i8[N,?]"}, "", "i8[N,?]"},
  {"identity", {"f32[2]", "f32[2]"}, "", "error: op 'identity' takes 1 operands (x), got 2"},
  {"reshape", {"f32[N,16,5,5]"}, "{shape=[0,-1]}", "f32[N,400]"},
  {"reshape", {"f32[2,3,4]"}, "{shape=[4,-1]}", "f32[4,6]"},
  {"reshape", {"f32[N,4]"}, "{shape=[-1]}", "f32[4*N]"},
  {"reshape", {"f32[N,S,8]"}, "{shape=[-1,4]}", "f32[2*N*S,4]"},
  {"reshape", {"f32[N,4]"}, "{shape=[0,2,3]}", "error: cannot reshape f32[N,4] (4*N elements) to [0,2,3] (6*N elements)"},
  {"reshape", {"f32[N,?]"}, "{shape=[-1]}", "f32[?]"},
  {"reshape", {"f32[2,3]"}, "{shape=[4,2]}", "error: cannot reshape f32[2,3] (6 elements) to [4,2] (8 elements)"},
  {"reshape", {"f32[2,3]"}, "{shape=[-1,-1]}", "error: more than one -1"},
  {"transpose", {"f32[N,3,5]"}, "{perm=[2,0,1]}", "f32[5,N,3]"},
  {"transpose", {"f32[2,3]"}, "", "f32[3,2]"},
  {"transpose", {"f32[2,3]"}, "{perm=[0,0]}", "error: is not a permutation"},
  {"broadcast_to", {"f32[1,3]"}, "{shape=[N,3]}", "f32[N,3]"},
  {"broadcast_to", {"f32[2,3]"}, "{shape=[4,3]}", "error: do not broadcast"},
  {"concat", {"f32[N,2]", "f32[N,3]"}, "{axis=1}", "f32[N,5]"},
  {"concat", {"f32[N,2]", "f32[M,2]"}, "{axis=0}", "f32[M+N,2]"},
  {"concat", {"f32[2,2]", "f32[3,3]"}, "{axis=1}", "error: dim 0 of f32[2,2] and f32[3,3]: 2 does not match 3"},
  {"concat", {"f32[2,2]"}, "", "error: needs attribute 'axis'"},
  {"slice", {"f32[10,N]"}, "{starts=[2], ends=[8], axes=[0], steps=[2]}", "f32[3,N]"},
  {"slice", {"f32[5]"}, "{starts=[-1], ends=[-6], steps=[-1]}", "f32[5]"},
  {"slice", {"f32[5]"}, "{starts=[0], ends=[5], steps=[0]}", "error: steps must not be 0"},
  {"pad", {"f32[2,3]"}, "{pads=[1,0,1,2]}", "f32[4,5]"},
  {"pad", {"f32[3]"}, "{pads=[2,2], mode=\"reflect\"}", "f32[7]"},
  {"pad", {"f32[3]"}, "{pads=[1,1], mode=\"wrap\"}", "error: mode must be constant, edge or reflect"},
  {"pad", {"f32[2,3]"}, "{pads=[1]}", "error: pads must have 4 entries"},
  {"gather", {"f32[5,4]", "i64[N]"}, "", "f32[N,4]"},
  {"gather", {"f32[2,5,4]", "i32[3,2]"}, "{axis=1}", "f32[2,3,2,4]"},
  {"gather", {"f32[5]", "f32[2]"}, "", "error: indices must be an integer tensor"},
  {"gather_elements", {"f32[N,5]", "i64[N,2]"}, "{axis=1}", "f32[N,2]"},
  {"gather_elements", {"f32[5,4]", "i64[2]"}, "", "error: indices i64[2] must have the rank of data f32[5,4]"},
  {"one_hot", {"i64[N]"}, "{depth=10}", "f32[N,10]"},
  {"one_hot", {"i64[4]"}, "{depth=3, axis=0, dtype=i32}", "i32[3,4]"},
  {"one_hot", {"i64[4]"}, "{depth=0}", "error: depth must be >= 1"},
  {"layout_convert", {"f32[N,32,28,28]"}, "{layout=nchw8c}", "f32[N,32,28,28]{nchw8c}"},
  {"layout_convert", {"f32[N,32,28,28]"}, "{layout=nhwc}", "f32[N,32,28,28]{nhwc}"},
  {"layout_convert", {"f32[N,30,4,4]"}, "{layout=nchw8c}", "error: 30 channels do not divide into blocks of 8"},
  {"concat", {"f32[N,3,4,4]{nhwc}", "f32[N,5,4,4]{nhwc}"}, "{axis=1}", "f32[N,8,4,4]{nhwc}"},
  {"concat", {"f32[N,3,4,4]{nhwc}", "f32[N,5,4,4]"}, "{axis=1}", "f32[N,8,4,4]"},
  {"concat", {"f32[N,3,4,4]{nhwc}", "f32[N,5,4,4]{nhwc}"}, "{axis=1, out_layout=row_major}", "f32[N,8,4,4]"},
  {"concat", {"f32[N,3,4,4]", "f32[N,2,4,4]"}, "{axis=1, out_layout=nchw8c}",
   "error: out_layout nchw8c: 5 channels do not divide into blocks of 8"},
  {"concat", {"f32[N,3,4,4]", "f32[N,2,4,4]"}, "{axis=1, out_layout=nhwc_cols5}",
   "error: out_layout nhwc_cols5: concat writes row-major, channels-last or blocked images"},
  // Composite nn ops.
  {"softmax", {"f32[N,10]"}, "{axis=1}", "f32[N,10]"},
  {"softmax", {"i32[2]"}, "", "error: must be floating-point"},
  {"log_softmax", {"f32[N,10]"}, "", "f32[N,10]"},
  {"log_softmax", {"i32[2]"}, "", "error: must be floating-point"},
  {"softmax_cross_entropy", {"f32[N,10]", "i64[N]"}, "", "f32[]"},
  {"softmax_cross_entropy", {"f32[N,10]", "i64[N]"}, "{reduction=\"none\"}", "f32[N]"},
  {"softmax_cross_entropy", {"f32[N,5,2]", "i32[N,2]", "f32[5]"}, "{ignore_index=-1}", "f32[]"},
  {"softmax_cross_entropy", {"f32[N,10]", "i64[N,1]"}, "", "error: labels i64[N,1] must have rank 1"},
  {"softmax_cross_entropy", {"f32[N,10]", "i64[N]"}, "{reduction=\"avg\"}", "error: reduction must be mean, sum or none"},
  {"batch_norm_train", {"f32[N,16,8,8]", "f32[16]", "f32[16]"}, "", "f32[N,16,8,8], f32[16], f32[16]"},
  {"batch_norm_train", {"f32[N,16,8,8]", "f32[8]", "f32[16]"}, "", "error: 8 does not match 16"},
  {"batch_norm_infer", {"f32[N,4]", "f32[4]", "f32[4]", "f32[4]", "f32[4]"}, "{epsilon=0.001}", "f32[N,4]"},
  {"batch_norm_infer", {"f32[N,4]", "f32[4]", "f32[4]"}, "", "error: op 'batch_norm_infer' takes 5 operands (x, scale, bias, mean, var), got 3"},
  {"batch_norm_grad", {"f32[N,4,3]", "f32[N,4,3]", "f32[4]", "f32[4]", "f32[4]"}, "", "f32[N,4,3], f32[4], f32[4]"},
  {"batch_norm_grad", {"f32[N,4,3]", "f32[N,4,3]", "f32[4]", "f32[4]", "f64[4]"}, "", "error: different dtypes"},
  {"dropout", {"f32[N,100]"}, "{ratio=0.3, seed=7}", "f32[N,100], bool[N,100]"},
  {"dropout", {"f32[4]", "i64[]"}, "", "f32[4], bool[4]"},
  {"dropout", {"f32[4]"}, "{ratio=1.0}", "error: ratio must be in [0, 1)"},
  // A fused node's types are its region's (written after them, here inside the expectation).
  {"fused", {"f32[N,4]"}, "{kind=\"elementwise\"}",
   "f32[N,4] {\n    arg %x : f32[N,4]\n    %y = relu(%x) : f32[N,4]\n    yield %y\n  }"},
  {"fused", {"f32[N,4]"}, "{kind=\"elementwise\"}", "error: a fused node needs its region"},
};
// clang-format on

/// The .kir text of a one-node graph for a case.
std::string caseText(const Case &c) {
  const OpInfo *op = findOp(c.op);
  REQUIRE(op);
  std::string text = "graph @t {\n";
  std::string args;
  for (size_t i = 0; i < c.operands.size(); ++i) {
    text += fmt::format("  input %a{} : {}\n", i, c.operands[i]);
    args += fmt::format("{}%a{}", i ? ", " : "", i);
  }
  std::string results;
  for (int i = 0; i < op->numResults; ++i)
    results += fmt::format("{}%r{}", i ? ", " : "", i);
  std::string expect = c.expect;
  std::string types = expect.rfind("error: ", 0) == 0 ? "f32[]" : expect;
  text += fmt::format("  {} = {}({}) {} : {}\n  output %r0\n}}\n", results, c.op, args, c.attrs, types);
  return text;
}

} // namespace

TEST_CASE("every op infers its result types and rejects bad operands", "[ops][types]") {
  for (const Case &c : kCases) {
    std::string text = caseText(c);
    INFO(text);
    auto g = parse(text, "case.kir");
    std::string expect = c.expect;
    if (expect.rfind("error: ", 0) == 0) {
      REQUIRE_FALSE(g);
      INFO(g.error().message);
      CHECK(g.error().message.find(expect.substr(7)) != std::string::npos);
      continue;
    }
    if (!g)
      FAIL(g.error().message);
    CHECK(verify(*g));
  }
}

TEST_CASE("every op round-trips through the .kir printer and parser", "[ops][roundtrip]") {
  for (const Case &c : kCases) {
    if (std::string(c.expect).rfind("error: ", 0) == 0)
      continue;
    auto g = parse(caseText(c), "case.kir");
    REQUIRE(g);
    std::string printed = print(*g);
    INFO(printed);
    auto again = parse(printed, "printed.kir");
    if (!again)
      FAIL(again.error().message);
    CHECK(print(*again) == printed);
  }
}

TEST_CASE("the cases cover every op of the table, valid and invalid", "[ops]") {
  std::set<std::string> valid, invalid;
  for (const Case &c : kCases)
    (std::string(c.expect).rfind("error: ", 0) == 0 ? invalid : valid).insert(c.op);
  for (const OpInfo &op : allOps()) {
    INFO("op " << op.name);
    CHECK(valid.count(std::string(op.name)));
    CHECK(invalid.count(std::string(op.name)));
  }
}

TEST_CASE("the op table is consistent", "[ops]") {
  std::set<std::string_view> names;
  for (size_t i = 0; i < allOps().size(); ++i) {
    const OpInfo &op = allOps()[i];
    INFO("op " << op.name);
    CHECK(static_cast<size_t>(op.kind) == i);
    CHECK(names.insert(op.name).second);
    CHECK(findOp(op.name) == &op);
    CHECK(!op.doc.empty());
    CHECK((op.minOperands >= 1 || op.kind == OpKind::Fused)); // a kernel may take no operands
    CHECK(op.numResults >= 1);
    for (const AttrSpec &a : op.attrs) {
      bool absent = std::holds_alternative<std::monostate>(a.def);
      CHECK((absent || attrHasKind(a.def, a.kind)));
    }
  }
  CHECK(findOp("no_such_op") == nullptr);
}

TEST_CASE("composite ops are defined over primitives and their own float attributes", "[ops]") {
  size_t composites = 0;
  for (const OpInfo &op : allOps()) {
    INFO("op " << op.name);
    if (op.has(trait::Primitive)) {
      CHECK(op.category == OpCategory::Elementwise);
      CHECK(!op.isComposite());
    }
    if (!op.isComposite()) {
      // Every elementwise op is a primitive or defined over them.
      CHECK((op.category != OpCategory::Elementwise || op.has(trait::Primitive)));
      continue;
    }
    ++composites;
    CHECK(op.category == OpCategory::Elementwise);
    for (const DefStep &s : op.definition.steps) {
      switch (s.kind) {
      case DefStep::Operand: CHECK(s.operand < op.minOperands); break;
      case DefStep::Constant: break;
      case DefStep::Attribute: {
        int i = op.attrIndex(s.attr);
        REQUIRE(i >= 0);
        CHECK(op.attrs[static_cast<size_t>(i)].kind == AttrKind::Float);
        break;
      }
      case DefStep::Apply: {
        const OpInfo &p = opInfo(s.prim);
        INFO("primitive " << p.name);
        CHECK(p.has(trait::Primitive));
        CHECK(s.numArgs >= p.minOperands);
        CHECK(s.numArgs <= p.maxOperands);
        break;
      }
      }
    }
    CHECK(op.definition.steps.back().kind == DefStep::Apply);
  }
  CHECK(composites >= 10);
}
