//===- codegen/llvm/Jit.cpp - Kernel IR to native code --------------------===//
#include "codegen/llvm/Jit.h"

#include "codegen/Balance.h"
#include "codegen/llvm/DiskCache.h"
#include "codegen/llvm/Emit.h"

#include <llvm/Object/ObjectFile.h>
#include <llvm/ExecutionEngine/Orc/ExecutionUtils.h>
#include <llvm/ExecutionEngine/Orc/LLJIT.h>
#include <llvm/ExecutionEngine/Orc/ThreadSafeModule.h>
#include <llvm/IR/DiagnosticInfo.h>
#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/Intrinsics.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/LegacyPassManager.h>
#include <llvm/IR/Module.h>
#include <llvm/IR/Verifier.h>
#include <llvm/Passes/PassBuilder.h>
#include <llvm/Config/llvm-config.h>
#include <llvm/ADT/StringExtras.h>
#include <llvm/Support/SHA256.h>
#include <llvm/Support/TargetSelect.h>
#include <llvm/Target/TargetMachine.h>
#include <llvm/Transforms/Utils/Cloning.h>
#include <llvm/Transforms/Utils/ModuleUtils.h>
#include <llvm/Support/DynamicLibrary.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/TargetParser/Host.h>

#include <algorithm>
#include <set>
#include <map>
#include <mutex>

namespace kiln::codegen {

using namespace kernel;
using ir::DType;
using ir::OpKind;

struct Jit::State {
  std::unique_ptr<llvm::orc::LLJIT> jit;
};

Jit::~Jit() = default;

std::string hostCpuName() { return llvm::sys::getHostCPUName().str(); }

int hostVectorBytes() {
  auto features = llvm::sys::getHostCPUFeatures();
  auto has = [&](const char *f) { return features.lookup(f); };
  return has("avx512f") ? 64 : has("avx") ? 32 : 16;
}

namespace {

/// glibc's vector math library (libmvec: expf, logf, tanhf, erff, ... on 4,
/// 8 or 16 lanes), loaded into the process once so the JIT resolves its
/// functions; false where there is none (the calls stay scalar libm calls).
bool haveLibmvec() {
  static const bool loaded = !llvm::sys::DynamicLibrary::LoadLibraryPermanently("libmvec.so.1");
  return loaded;
}

/// The libmvec variants of the libm function `fn` (`expf`, `tanh`) the host
/// can run, in the vector-function ABI's spelling: SSE4 (b), AVX2 (d) and
/// AVX-512 (e) widths, the lanes of a 16-, 32- and 64-byte register.
std::vector<std::pair<std::string, unsigned>> vectorVariants(const std::string &fn, bool isFloat, int bytes) {
  std::vector<std::pair<std::string, unsigned>> out;
  if (!haveLibmvec())
    return out;
  for (auto [isa, width] : {std::pair{'b', 16}, {'d', 32}, {'e', 64}}) {
    if (width > bytes)
      break;
    unsigned lanes = static_cast<unsigned>(width / (isFloat ? 4 : 8));
    out.emplace_back(fmt::format("_ZGV{}N{}v_{}", isa, lanes, fn), lanes);
  }
  return out;
}

} // namespace

// UBSan's function check reads a signature before the callee, which JIT
// code does not have: calls into kernels are exempt.
#if defined(__clang__)
__attribute__((no_sanitize("function")))
#endif
bool Jit::call(size_t i, void **buffers, int64_t begin, int64_t end) const {
  return functions_[i](buffers, begin, end) == 0;
}

#if defined(__clang__)
__attribute__((no_sanitize("function")))
#endif
bool Jit::finish(size_t i, void **buffers) const {
  return !finishes_[i] || finishes_[i](buffers, 0, 1) == 0;
}

namespace {

void initializeLLVM() {
  static std::once_flag once;
  std::call_once(once, [] {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
  });
}

std::string message(llvm::Error e) {
  std::string s;
  llvm::raw_string_ostream os(s);
  os << e;
  return s;
}

} // namespace

std::string finishSymbol(const Kernel &k) { return k.name + ".finish"; }

namespace {

/// Emits one of a kernel's blocks (its body or its finish block) as an
/// LLVM function named `symbol`.
class Emitter {
public:
  Emitter(llvm::Module &m, const Kernel &k, const Block &code, std::string symbol, int vectorBytes)
      : m_(m), ctx_(m.getContext()), b_(ctx_), k_(k), code_(code), symbol_(std::move(symbol)),
        vectorBytes_(vectorBytes) {}

  Status run() {
    auto *ptrTy = llvm::PointerType::getUnqual(ctx_);
    auto *i64 = b_.getInt64Ty();
    // The body takes each argument buffer as a noalias pointer (a kernel's
    // results are buffers of their own, its operands only read), so LLVM
    // vectorizes without runtime overlap checks; the entry the runtime calls
    // unpacks the pointer array into it, and inlining keeps the noalias
    // facts as scopes.
    std::vector<size_t> args;
    std::vector<llvm::Type *> params;
    for (size_t i = 0; i < k_.buffers.size(); ++i)
      if (k_.buffers[i].passedIn()) {
        args.push_back(i);
        params.push_back(ptrTy);
      }
    params.push_back(i64);
    params.push_back(i64);
    // Both return 0, or 1 when a scratch buffer could not be allocated.
    auto *bodyTy = llvm::FunctionType::get(b_.getInt32Ty(), params, false);
    fn_ = llvm::Function::Create(bodyTy, llvm::Function::InternalLinkage, symbol_ + ".body", m_);
    fn_->addFnAttr(llvm::Attribute::NoUnwind);
    fn_->addFnAttr(llvm::Attribute::AlwaysInline);
    for (size_t a = 0; a < args.size(); ++a)
      fn_->addParamAttr(static_cast<unsigned>(a), llvm::Attribute::NoAlias);
    {
      auto *entryTy = llvm::FunctionType::get(b_.getInt32Ty(), {ptrTy, i64, i64}, false);
      llvm::Function *entryFn = llvm::Function::Create(entryTy, llvm::Function::ExternalLinkage, symbol_, m_);
      entryFn->addFnAttr(llvm::Attribute::NoUnwind);
      llvm::IRBuilder<> eb(llvm::BasicBlock::Create(ctx_, "entry", entryFn));
      std::vector<llvm::Value *> callArgs;
      for (size_t i : args)
        callArgs.push_back(eb.CreateLoad(ptrTy, eb.CreateConstInBoundsGEP1_64(ptrTy, entryFn->getArg(0), i),
                                         k_.buffers[i].name));
      callArgs.push_back(entryFn->getArg(1));
      callArgs.push_back(entryFn->getArg(2));
      eb.CreateRet(eb.CreateCall(fn_, callArgs));
    }
    auto *entry = llvm::BasicBlock::Create(ctx_, "entry", fn_);
    b_.SetInsertPoint(entry);
    // Scratch buffers are this call's own, 64-byte aligned.
    auto alloc = m_.getOrInsertFunction("aligned_alloc", ptrTy, i64, i64);
    auto release = m_.getOrInsertFunction("free", b_.getVoidTy(), ptrTy);
    std::vector<llvm::Value *> scratch;
    for (size_t i = 0, a = 0; i < k_.buffers.size(); ++i) {
      const Buffer &buf = k_.buffers[i];
      if (!buf.passedIn()) {
        auto bytes = static_cast<uint64_t>(buf.elements) * ir::dtypeSize(buf.type);
        scratch.push_back(b_.CreateCall(alloc, {b_.getInt64(64), b_.getInt64((bytes + 63) / 64 * 64)}, buf.name));
        buffers_.push_back(scratch.back());
        continue;
      }
      buffers_.push_back(fn_->getArg(static_cast<unsigned>(a++)));
    }
    if (!scratch.empty()) { // out of memory: free what was allocated and say so
      llvm::Value *failed = b_.getFalse();
      for (llvm::Value *p : scratch)
        failed = b_.CreateOr(failed, b_.CreateIsNull(p));
      auto *oom = llvm::BasicBlock::Create(ctx_, "out_of_memory", fn_);
      auto *run = llvm::BasicBlock::Create(ctx_, "run", fn_);
      b_.CreateCondBr(failed, oom, run);
      b_.SetInsertPoint(oom);
      for (llvm::Value *p : scratch)
        b_.CreateCall(release, {p});
      b_.CreateRet(b_.getInt32(1));
      b_.SetInsertPoint(run);
    }
    beginArg_ = fn_->getArg(static_cast<unsigned>(args.size()));
    endArg_ = fn_->getArg(static_cast<unsigned>(args.size() + 1));
    // The outermost parallel loop runs the part [begin, end) it is given.
    if (&code_ == &k_.body && k_.parallelExtent() > 0)
      parallel_ = &k_.body.back();
    accs_.assign(static_cast<size_t>(k_.numVars), nullptr);
    vars_.assign(static_cast<size_t>(k_.numVars), nullptr);
    scopes_.emplace_back();
    KILN_TRY(block(code_));
    for (llvm::Value *p : scratch)
      b_.CreateCall(release, {p});
    b_.CreateRet(b_.getInt32(0));
    std::string err;
    llvm::raw_string_ostream os(err);
    // The vectorizer only calls vector variants that stay declared.
    if (!vectorDecls_.empty())
      llvm::appendToCompilerUsed(m_, std::vector<llvm::GlobalValue *>(vectorDecls_.begin(), vectorDecls_.end()));
    if (llvm::verifyFunction(*fn_, &os))
      return makeError("kernel {}: LLVM rejects it: {}", k_.name, err);
    return {};
  }

private:
  llvm::Type *valueType(DType t) {
    switch (t) {
    case DType::F32: return b_.getFloatTy();
    case DType::F64: return b_.getDoubleTy();
    case DType::Bool: return b_.getInt1Ty();
    case DType::I32: return b_.getInt32Ty();
    case DType::I8:
    case DType::U8: return b_.getInt8Ty();
    default: return b_.getInt64Ty();
    }
  }
  llvm::Type *memoryType(DType t) { return t == DType::Bool ? b_.getInt8Ty() : valueType(t); }

  /// A libm function of x's type (`log1pf` for float, `log1p` for double),
  /// called as a pure function (kernels never read errno) and offered to
  /// the loop vectorizer with its libmvec variants, so a vector loop calls
  /// the vector function.
  llvm::Value *call(const char *name, llvm::Value *x) {
    bool isFloat = x->getType()->isFloatTy();
    std::string fn = isFloat ? std::string(name) + "f" : name;
    llvm::FunctionCallee callee = m_.getOrInsertFunction(fn, x->getType(), x->getType());
    llvm::CallInst *c = b_.CreateCall(callee, {x});
    c->setDoesNotAccessMemory();
    c->setDoesNotThrow();
    std::string abi;
    for (const auto &[variant, lanes] : vectorVariants(fn, isFloat, vectorBytes_)) {
      auto *vecTy = llvm::FixedVectorType::get(x->getType(), lanes);
      auto *decl = llvm::cast<llvm::Function>(m_.getOrInsertFunction(variant, vecTy, vecTy).getCallee());
      decl->setDoesNotAccessMemory();
      decl->setDoesNotThrow();
      if (std::find(vectorDecls_.begin(), vectorDecls_.end(), decl) == vectorDecls_.end())
        vectorDecls_.push_back(decl);
      abi += fmt::format("{}_ZGV_LLVM_N{}v_{}({})", abi.empty() ? "" : ",", lanes, fn, variant);
    }
    if (!abi.empty())
      c->addFnAttr(llvm::Attribute::get(ctx_, "vector-function-abi-variant", abi));
    return c;
  }
  llvm::Value *intrinsic(llvm::Intrinsic::ID id, std::vector<llvm::Value *> args) {
    return b_.CreateIntrinsic(id, {args[0]->getType()}, args);
  }
  llvm::Value *fconst(llvm::Type *t, double v) { return llvm::ConstantFP::get(t, v); }

  Status block(const Block &stmts) {
    for (const Stmt &s : stmts)
      KILN_TRY(stmt(s));
    return {};
  }

  Status stmt(const Stmt &s) {
    switch (s.kind) {
    case Stmt::Loop: return loop(s);
    case Stmt::Store: {
      KILN_ASSIGN(llvm::Value * v, expr(s.value));
      KILN_ASSIGN(llvm::Value * idx, expr(s.index));
      DType t = k_.buffers[static_cast<size_t>(s.buffer)].type;
      if (t == DType::Bool)
        v = b_.CreateZExt(v, b_.getInt8Ty());
      b_.CreateStore(v, b_.CreateInBoundsGEP(memoryType(t), buffers_[static_cast<size_t>(s.buffer)], idx));
      return {};
    }
    case Stmt::AccInit: {
      KILN_ASSIGN(llvm::Value * v, expr(s.value));
      if (!accs_[static_cast<size_t>(s.var)]) {
        llvm::IRBuilder<> entry(&fn_->getEntryBlock(), fn_->getEntryBlock().begin());
        accs_[static_cast<size_t>(s.var)] = entry.CreateAlloca(v->getType());
      }
      b_.CreateStore(v, accs_[static_cast<size_t>(s.var)]);
      return {};
    }
    case Stmt::AccUpdate: {
      KILN_ASSIGN(llvm::Value * v, expr(s.value));
      llvm::Value *slot = accs_[static_cast<size_t>(s.var)];
      llvm::Value *old = b_.CreateLoad(v->getType(), slot);
      b_.CreateStore(binary(s.combine, old, v), slot);
      return {};
    }
    case Stmt::TileFma: return tile(s);
    case Stmt::Barrier:
    case Stmt::BlockReduce:
      return makeError("kernel {}: a GPU kernel (barriers, block reductions) cannot run on the CPU", k_.name);
    }
    return {};
  }

  llvm::Value *element(int buffer, llvm::Value *base, int64_t offset) {
    llvm::Type *t = memoryType(k_.buffers[static_cast<size_t>(buffer)].type);
    return b_.CreateConstInBoundsGEP1_64(t, base, static_cast<uint64_t>(offset));
  }

  /// The micro-kernel: mr x (nr / lanes) vector accumulators live in
  /// registers (loop-carried values) through the k loop, which loads a row
  /// of the B panel as vectors and broadcasts each element of a column of
  /// the A panel into FMAs.
  /// A tile's element and vector types, alignment and vectors per row.
  struct TileTypes {
    llvm::Type *el;
    llvm::FixedVectorType *vec;
    llvm::Align align;
    int64_t nv;
  };
  TileTypes tileTypes(const Stmt &s) {
    DType dt = k_.buffers[static_cast<size_t>(s.buffer)].type;
    llvm::Type *el = valueType(dt);
    return {el, llvm::FixedVectorType::get(el, static_cast<unsigned>(s.tile.lanes)), llvm::Align(ir::dtypeSize(dt)),
            s.tile.nr / s.tile.lanes};
  }

  Status tile(const Stmt &s) {
    const Tile &t = s.tile;
    auto [el, vec, align, nv] = tileTypes(s);
    KILN_ASSIGN(llvm::Value * cIdx, expr(s.index));
    KILN_ASSIGN(llvm::Value * aIdx, expr(t.aIndex));
    KILN_ASSIGN(llvm::Value * bIdx, expr(t.bIndex));
    KILN_ASSIGN(llvm::Value * depth, expr(t.depth));
    llvm::Value *cBase = b_.CreateInBoundsGEP(el, buffers_[static_cast<size_t>(s.buffer)], cIdx);
    llvm::Value *aBase = b_.CreateInBoundsGEP(el, buffers_[static_cast<size_t>(t.a)], aIdx);
    llvm::Value *bBase = b_.CreateInBoundsGEP(el, buffers_[static_cast<size_t>(t.b)], bIdx);
    std::vector<llvm::Value *> init;
    llvm::BasicBlock *fromZero = nullptr, *fromC = nullptr, *join = nullptr;
    if (t.fresh) { // start from zero, or branch to load C
      KILN_ASSIGN(llvm::Value * fresh, expr(t.fresh));
      fromZero = b_.GetInsertBlock();
      fromC = llvm::BasicBlock::Create(ctx_, "tile.c", fn_);
      join = llvm::BasicBlock::Create(ctx_, "tile.init", fn_);
      b_.CreateCondBr(b_.CreateICmpNE(fresh, b_.getInt64(0)), join, fromC);
      b_.SetInsertPoint(fromC);
    }
    for (int64_t i = 0; i < t.mr; ++i)
      for (int64_t v = 0; v < nv; ++v)
        init.push_back(b_.CreateAlignedLoad(vec, element(s.buffer, cBase, i * t.ldc + v * t.lanes), align));
    if (t.fresh) {
      b_.CreateBr(join);
      b_.SetInsertPoint(join);
      for (llvm::Value *&v : init) {
        llvm::PHINode *phi = b_.CreatePHI(vec, 2);
        phi->addIncoming(llvm::Constant::getNullValue(vec), fromZero);
        phi->addIncoming(v, fromC);
        v = phi;
      }
    }
    std::vector<llvm::Value *> trips;
    for (const Tile::Around &l : t.around) {
      KILN_ASSIGN(llvm::Value * count, expr(l.count));
      trips.push_back(count);
    }
    trips.push_back(depth);
    std::vector<llvm::Value *> sums = tileLoops(s, 0, aBase, bBase, trips, init);
    for (int64_t i = 0; i < t.mr; ++i)
      for (int64_t v = 0; v < nv; ++v)
        b_.CreateAlignedStore(sums[static_cast<size_t>(i * nv + v)], element(s.buffer, cBase, i * t.ldc + v * t.lanes), align);
    return {};
  }

  /// The tile's loop `level` (its loops around k, then k itself) from A and
  /// B at `aBase` and `bBase`, carrying the accumulators from `accsIn`;
  /// returns their values after it (the insert point is then after it).
  std::vector<llvm::Value *> tileLoops(const Stmt &s, size_t level, llvm::Value *aBase, llvm::Value *bBase,
                                       const std::vector<llvm::Value *> &trips, const std::vector<llvm::Value *> &accsIn) {
    const Tile &t = s.tile;
    auto [el, vec, align, nv] = tileTypes(s);
    bool isK = level == t.around.size();
    llvm::BasicBlock *pre = b_.GetInsertBlock();
    auto *header = llvm::BasicBlock::Create(ctx_, isK ? "tile" : "tile.around", fn_);
    auto *body = llvm::BasicBlock::Create(ctx_, isK ? "tile.k" : "tile.around.body", fn_);
    auto *exit = llvm::BasicBlock::Create(ctx_, "tile.exit", fn_);
    b_.CreateBr(header);
    b_.SetInsertPoint(header);
    llvm::PHINode *k = b_.CreatePHI(b_.getInt64Ty(), 2, isK ? "k" : "o");
    k->addIncoming(b_.getInt64(0), pre);
    std::vector<llvm::PHINode *> accs;
    for (llvm::Value *v : accsIn) {
      accs.push_back(b_.CreatePHI(vec, 2));
      accs.back()->addIncoming(v, pre);
    }
    b_.CreateCondBr(b_.CreateICmpSLT(k, trips[level]), body, exit);
    b_.SetInsertPoint(body);
    if (!isK) {
      const Tile::Around &l = t.around[level];
      llvm::Value *a = b_.CreateInBoundsGEP(el, aBase, b_.CreateMul(k, b_.getInt64(l.aStride), "", true, true));
      llvm::Value *b = b_.CreateInBoundsGEP(el, bBase, b_.CreateMul(k, b_.getInt64(l.bStride), "", true, true));
      std::vector<llvm::Value *> in(accs.begin(), accs.end());
      std::vector<llvm::Value *> out = tileLoops(s, level + 1, a, b, trips, in);
      for (size_t i = 0; i < accs.size(); ++i)
        accs[i]->addIncoming(out[i], b_.GetInsertBlock());
      k->addIncoming(b_.CreateAdd(k, b_.getInt64(1), "", true, true), b_.GetInsertBlock());
      markLoop(b_.CreateBr(header), {{"llvm.loop.unroll.disable", -1}});
      b_.SetInsertPoint(exit);
      return {accs.begin(), accs.end()};
    }
    llvm::Value *bRow = b_.CreateInBoundsGEP(el, bBase, b_.CreateMul(k, b_.getInt64(t.bK ? t.bK : t.nr), "", true, true));
    int64_t aK = t.aK ? t.aK : t.mr;
    llvm::Value *aCol = b_.CreateInBoundsGEP(el, aBase, b_.CreateMul(k, b_.getInt64(aK), "", true, true));
    std::vector<llvm::Value *> bv;
    for (int64_t v = 0; v < nv; ++v)
      bv.push_back(b_.CreateAlignedLoad(vec, element(t.b, bRow, v * t.lanes), align));
    for (int64_t i = 0; i < t.mr; ++i) {
      llvm::Value *a = b_.CreateVectorSplat(static_cast<unsigned>(t.lanes), b_.CreateAlignedLoad(el, element(t.a, aCol, i * t.aRow), align));
      for (int64_t v = 0; v < nv; ++v) {
        llvm::PHINode *acc = accs[static_cast<size_t>(i * nv + v)];
        acc->addIncoming(b_.CreateIntrinsic(llvm::Intrinsic::fma, {vec}, {a, bv[static_cast<size_t>(v)], acc}), body);
      }
    }
    k->addIncoming(b_.CreateAdd(k, b_.getInt64(1), "", true, true), body);
    // The body is already a full block of FMAs in registers: unrolling or
    // interleaving it would only spill them (and cost compile time).
    markLoop(b_.CreateBr(header), {{"llvm.loop.unroll.disable", -1},
                                   {"llvm.loop.vectorize.width", 1},
                                   {"llvm.loop.interleave.count", 1}});
    b_.SetInsertPoint(exit);
    return {accs.begin(), accs.end()};
  }

  Status loop(const Stmt &s) {
    if (s.loop == LoopKind::Block || s.loop == LoopKind::Thread)
      return makeError("kernel {}: a GPU kernel (block and thread loops) cannot run on the CPU", k_.name);
    llvm::Value *limit = nullptr;
    if (s.limit) {
      KILN_ASSIGN(limit, expr(s.limit));
    }
    llvm::BasicBlock *pre = b_.GetInsertBlock();
    auto *header = llvm::BasicBlock::Create(ctx_, "loop", fn_);
    auto *body = llvm::BasicBlock::Create(ctx_, "body", fn_);
    auto *exit = llvm::BasicBlock::Create(ctx_, "exit", fn_);
    b_.CreateBr(header);
    b_.SetInsertPoint(header);
    llvm::PHINode *i = b_.CreatePHI(b_.getInt64Ty(), 2, fmt::format("i{}", s.var));
    bool part = &s == parallel_;
    llvm::Value *begin = part ? beginArg_ : b_.getInt64(0);
    llvm::Value *end = part ? endArg_ : limit ? limit : b_.getInt64(s.extent);
    i->addIncoming(begin, pre);
    b_.CreateCondBr(b_.CreateICmpSLT(i, end), body, exit);
    b_.SetInsertPoint(body);
    vars_[static_cast<size_t>(s.var)] = i;
    scopes_.emplace_back();
    KILN_TRY(block(s.body));
    scopes_.pop_back();
    llvm::Value *next = b_.CreateAdd(i, b_.getInt64(1), "", true, true);
    i->addIncoming(next, b_.GetInsertBlock());
    llvm::BranchInst *back = b_.CreateBr(header);
    if (s.loop == LoopKind::Vector)
      markLoop(back, {{"llvm.loop.vectorize.enable", 1}});
    else if (holdsTile(s) || s.extent > 4)
      // Copies of a micro-kernel gain nothing and cost compile time; fully
      // unrolling a long serial loop (an epilogue over an output row) makes
      // one huge block whose instruction scheduling takes LLVM seconds.
      markLoop(back, {{"llvm.loop.unroll.disable", -1}});
    b_.SetInsertPoint(exit);
    return {};
  }

  /// Attaches loop properties to a loop's back edge: each a name and an i32
  /// value (-1: the name alone; vectorize.enable takes a bool).
  void markLoop(llvm::BranchInst *back, std::initializer_list<std::pair<const char *, int>> props) {
    std::vector<llvm::Metadata *> ops = {nullptr};
    for (const auto &[name, value] : props) {
      std::vector<llvm::Metadata *> prop = {llvm::MDString::get(ctx_, name)};
      if (value >= 0) {
        llvm::Constant *c = std::string_view(name) == "llvm.loop.vectorize.enable"
                                ? static_cast<llvm::Constant *>(b_.getInt1(value != 0))
                                : b_.getInt32(static_cast<uint32_t>(value));
        prop.push_back(llvm::ConstantAsMetadata::get(c));
      }
      ops.push_back(llvm::MDNode::get(ctx_, prop));
    }
    llvm::MDNode *md = llvm::MDNode::getDistinct(ctx_, ops);
    md->replaceOperandWith(0, md);
    back->setMetadata(llvm::LLVMContext::MD_loop, md);
  }

  static bool holdsTile(const Stmt &s) {
    if (s.kind == Stmt::TileFma)
      return true;
    return std::any_of(s.body.begin(), s.body.end(), holdsTile);
  }

  llvm::Value *binary(OpKind op, llvm::Value *x, llvm::Value *y) {
    bool isFloat = x->getType()->isFloatingPointTy();
    switch (op) {
    case OpKind::Add: return isFloat ? b_.CreateFAdd(x, y) : b_.CreateAdd(x, y);
    case OpKind::Sub: return isFloat ? b_.CreateFSub(x, y) : b_.CreateSub(x, y);
    case OpKind::Mul: return isFloat ? b_.CreateFMul(x, y) : b_.CreateMul(x, y);
    case OpKind::Div: return isFloat ? b_.CreateFDiv(x, y) : b_.CreateSDiv(x, y);
    case OpKind::Pow: return intrinsic(llvm::Intrinsic::pow, {x, y});
    case OpKind::Fmod: return isFloat ? b_.CreateFRem(x, y) : b_.CreateSRem(x, y); // integers stay on the reference
    case OpKind::Max: return isFloat ? intrinsic(llvm::Intrinsic::maximum, {x, y}) : b_.CreateBinaryIntrinsic(llvm::Intrinsic::smax, x, y);
    case OpKind::Min: return isFloat ? intrinsic(llvm::Intrinsic::minimum, {x, y}) : b_.CreateBinaryIntrinsic(llvm::Intrinsic::smin, x, y);
    case OpKind::Equal: return isFloat ? b_.CreateFCmpOEQ(x, y) : b_.CreateICmpEQ(x, y);
    case OpKind::Less: return isFloat ? b_.CreateFCmpOLT(x, y) : b_.CreateICmpSLT(x, y);
    case OpKind::Greater: return isFloat ? b_.CreateFCmpOGT(x, y) : b_.CreateICmpSGT(x, y);
    case OpKind::And: return b_.CreateAnd(x, y);
    case OpKind::Or: return b_.CreateOr(x, y);
    default: return nullptr;
    }
  }

  /// The unary primitives (composites reach codegen expanded by lowering).
  llvm::Value *unary(OpKind op, llvm::Value *x) {
    llvm::Type *t = x->getType();
    switch (op) {
    case OpKind::Neg: return b_.CreateFNeg(x);
    case OpKind::Abs: return intrinsic(llvm::Intrinsic::fabs, {x});
    case OpKind::Exp: return call("exp", x);
    case OpKind::Expm1: return call("expm1", x);
    case OpKind::Log: return call("log", x);
    case OpKind::Log1p: return call("log1p", x);
    case OpKind::Sqrt: return intrinsic(llvm::Intrinsic::sqrt, {x});
    case OpKind::Reciprocal: return b_.CreateFDiv(fconst(t, 1), x);
    case OpKind::Tanh: return call("tanh", x);
    case OpKind::Floor: return intrinsic(llvm::Intrinsic::floor, {x});
    case OpKind::Ceil: return intrinsic(llvm::Intrinsic::ceil, {x});
    case OpKind::Round: return intrinsic(llvm::Intrinsic::nearbyint, {x});
    case OpKind::Erf: return call("erf", x);
    case OpKind::Sin: return intrinsic(llvm::Intrinsic::sin, {x});
    case OpKind::Cos: return intrinsic(llvm::Intrinsic::cos, {x});
    case OpKind::Atan: return call("atan", x);
    default: return nullptr; // not a unary primitive: a bug in lowering, reported by expr()
    }
  }

  llvm::Value *convert(llvm::Value *x, DType from, DType to) {
    llvm::Type *t = valueType(to);
    bool fromFloat = ir::isFloat(from), toFloat = ir::isFloat(to);
    if (to == DType::Bool)
      return fromFloat ? b_.CreateFCmpUNE(x, fconst(x->getType(), 0)) : b_.CreateICmpNE(x, llvm::ConstantInt::get(x->getType(), 0));
    if (from == DType::Bool)
      return toFloat ? b_.CreateUIToFP(x, t) : b_.CreateZExt(x, t);
    if (fromFloat && toFloat)
      return b_.CreateFPCast(x, t);
    if (fromFloat)
      return b_.CreateFPToSI(x, t);
    return toFloat ? b_.CreateSIToFP(x, t) : b_.CreateSExtOrTrunc(x, t);
  }

  Expected<llvm::Value *> expr(const ExprRef &e) {
    for (auto it = scopes_.rbegin(); it != scopes_.rend(); ++it)
      if (auto found = it->find(e.get()); found != it->end())
        return found->second;
    KILN_ASSIGN(llvm::Value * v, compute(*e));
    if (!v)
      return makeError("kernel {}: cannot emit op '{}'", k_.name, ir::opInfo(e->op).name);
    scopes_.back().emplace(e.get(), v);
    return v;
  }

  Expected<llvm::Value *> compute(const Expr &e) {
    std::vector<llvm::Value *> args;
    for (const ExprRef &a : e.args) {
      KILN_ASSIGN(llvm::Value * v, expr(a));
      args.push_back(v);
    }
    switch (e.kind) {
    case Expr::Imm:
      if (ir::isFloat(e.type))
        return fconst(valueType(e.type), e.imm);
      return static_cast<llvm::Value *>(llvm::ConstantInt::get(valueType(e.type), static_cast<uint64_t>(static_cast<int64_t>(e.imm))));
    case Expr::Var: return static_cast<llvm::Value *>(vars_[static_cast<size_t>(e.var)]);
    case Expr::Acc: return static_cast<llvm::Value *>(b_.CreateLoad(valueType(e.type), accs_[static_cast<size_t>(e.var)]));
    case Expr::Load: {
      llvm::Value *p = b_.CreateInBoundsGEP(memoryType(e.type), buffers_[static_cast<size_t>(e.var)], args[0]);
      llvm::Value *v = b_.CreateLoad(memoryType(e.type), p);
      return e.type == DType::Bool ? b_.CreateTrunc(v, b_.getInt1Ty()) : v;
    }
    case Expr::Cast: return convert(args[0], e.args[0]->type, e.type);
    case Expr::Op: break;
    }
    if (e.op == OpKind::Select)
      return b_.CreateSelect(args[0], args[1], args[2]);
    if (args.size() == 2)
      return binary(e.op, args[0], args[1]);
    return unary(e.op, args[0]);
  }

  llvm::Module &m_;
  llvm::LLVMContext &ctx_;
  llvm::IRBuilder<> b_;
  const Kernel &k_;
  const Block &code_;
  std::vector<llvm::Function *> vectorDecls_; ///< libmvec functions the vectorizer may call
  std::string symbol_;
  int vectorBytes_; ///< the target's vector registers: which libmvec variants it has
  llvm::Function *fn_ = nullptr;
  const Stmt *parallel_ = nullptr; ///< the loop split across threads
  llvm::Value *beginArg_ = nullptr, *endArg_ = nullptr; ///< its part
  std::vector<llvm::Value *> buffers_, accs_, vars_;
  std::vector<std::map<const Expr *, llvm::Value *>> scopes_;
};

} // namespace

void optimizeModule(llvm::Module &m, llvm::TargetMachine &tm) {
  llvm::LoopAnalysisManager lam;
  llvm::FunctionAnalysisManager fam;
  llvm::CGSCCAnalysisManager cgam;
  llvm::ModuleAnalysisManager mam;
  llvm::PassBuilder pb(&tm);
  pb.registerModuleAnalyses(mam);
  pb.registerCGSCCAnalyses(cgam);
  pb.registerFunctionAnalyses(fam);
  pb.registerLoopAnalyses(lam);
  pb.crossRegisterProxies(lam, fam, cgam, mam);
  pb.buildPerModuleDefaultPipeline(llvm::OptimizationLevel::O3).run(m, mam);
}

Status emitKernel(llvm::Module &m, const Kernel &k, int vectorBytes) {
  KILN_TRY(Emitter(m, k, k.body, k.name, vectorBytes).run());
  if (!k.finish.empty())
    KILN_TRY(Emitter(m, k, k.finish, finishSymbol(k), vectorBytes).run());
  return {};
}

namespace {

/// One group of kernels compiled on one thread: its own context, module,
/// target machine and object.
struct Group {
  std::vector<size_t> kernels;
  std::string object, ir, assembly, error;
  bool cached = false;
};

/// Splits the kernels into `n` groups of about equal size (their printed
/// kernel IR, a proxy for compile time), largest first.
std::vector<Group> partition(const std::vector<Kernel> &kernels, size_t n) {
  std::vector<size_t> sizes;
  for (const Kernel &k : kernels)
    sizes.push_back(kernel::print(k).size());
  std::vector<Group> groups;
  for (std::vector<size_t> &members : balance(sizes, n)) {
    groups.emplace_back();
    groups.back().kernels = std::move(members);
  }
  return groups;
}

/// Whether `object` defines every entry of the group's kernels: a cache hit
/// that does not (an entry from another build under a colliding name) is
/// compiled again rather than failing at lookup.
bool definesKernels(const std::string &object, const Group &g, const std::vector<Kernel> &kernels) {
  auto file = llvm::object::ObjectFile::createObjectFile(
      llvm::MemoryBufferRef(llvm::StringRef(object.data(), object.size()), "cached"));
  if (!file) {
    llvm::consumeError(file.takeError());
    return false;
  }
  std::set<std::string> defined;
  for (const llvm::object::SymbolRef &sym : (*file)->symbols()) {
    auto name = sym.getName();
    auto flags = sym.getFlags();
    if (!name || !flags) {
      if (!name)
        llvm::consumeError(name.takeError());
      if (!flags)
        llvm::consumeError(flags.takeError());
      continue;
    }
    if (!(*flags & llvm::object::SymbolRef::SF_Undefined))
      defined.insert(name->str());
  }
  for (size_t i : g.kernels) {
    if (!defined.count(kernels[i].name))
      return false;
    if (!kernels[i].finish.empty() && !defined.count(finishSymbol(kernels[i])))
      return false;
  }
  return true;
}

/// Emits, optimizes (new pass manager, O3) and compiles one group to an
/// object, or takes it from the cache. The key hashes the unoptimized
/// module with everything else that decides the object.
void compileGroup(Group &g, const std::vector<Kernel> &kernels, llvm::orc::JITTargetMachineBuilder jtmb,
                  const llvm::DataLayout &layout, const DiskCache &cache, bool keepIR) {
  auto tm = jtmb.createTargetMachine();
  if (!tm) {
    g.error = fmt::format("LLVM cannot target this CPU: {}", message(tm.takeError()));
    return;
  }
  llvm::LLVMContext ctx;
  // A vector hint LLVM cannot follow (a loop of libm calls) is not worth a
  // warning on stderr: the loop stays scalar.
  ctx.setDiagnosticHandlerCallBack([](const llvm::DiagnosticInfo *, void *) {});
  llvm::Module module("kiln", ctx);
  module.setDataLayout(layout);
  module.setTargetTriple((*tm)->getTargetTriple().str());
  for (size_t i : g.kernels) {
    Status st = emitKernel(module, kernels[i], hostVectorBytes());
    if (!st) {
      g.error = st.error().message;
      return;
    }
  }
  std::string text;
  llvm::raw_string_ostream ts(text);
  module.print(ts, nullptr);
  llvm::SHA256 sha;
  for (const std::string &part : {std::string("kiln " KILN_VERSION_STRING " llvm " LLVM_VERSION_STRING),
                                  (*tm)->getTargetCPU().str(), (*tm)->getTargetFeatureString().str(), text})
    sha.update(llvm::StringRef(part.data(), part.size() + 1)); // the NUL separates the parts
  std::string key = llvm::toHex(sha.final(), true);
  if (!keepIR)
    if (auto hit = cache.load(key); hit && definesKernels(*hit, g, kernels)) {
      g.object = std::move(*hit);
      g.cached = true;
      return;
    }
  optimizeModule(module, **tm);
  if (keepIR) { // the optimized IR, and the assembly of a copy (codegen changes the module it runs on)
    llvm::raw_string_ostream os(g.ir);
    module.print(os, nullptr);
    std::unique_ptr<llvm::Module> copy = llvm::CloneModule(module);
    llvm::SmallVector<char, 0> text;
    llvm::raw_svector_ostream as(text);
    llvm::legacy::PassManager asmGen;
    if (!(*tm)->addPassesToEmitFile(asmGen, as, nullptr, llvm::CodeGenFileType::AssemblyFile)) {
      asmGen.run(*copy);
      g.assembly.assign(text.begin(), text.end());
    }
  }
  llvm::SmallVector<char, 0> buffer;
  llvm::raw_svector_ostream os(buffer);
  llvm::legacy::PassManager codegen;
  if ((*tm)->addPassesToEmitFile(codegen, os, nullptr, llvm::CodeGenFileType::ObjectFile)) {
    g.error = "LLVM cannot emit an object file for this CPU";
    return;
  }
  codegen.run(module);
  g.object.assign(buffer.begin(), buffer.end());
  cache.store(key, g.object);
}

} // namespace

Expected<std::unique_ptr<Jit>> Jit::compile(const std::vector<Kernel> &kernels, const JitOptions &options) {
  initializeLLVM();
  auto jtmb = llvm::orc::JITTargetMachineBuilder::detectHost();
  if (!jtmb)
    return makeError("LLVM cannot target this CPU: {}", message(jtmb.takeError()));
  jtmb->setCodeGenOptLevel(llvm::CodeGenOptLevel::Aggressive);
  auto lljit = llvm::orc::LLJITBuilder().setJITTargetMachineBuilder(*jtmb).create();
  if (!lljit)
    return makeError("LLVM's JIT does not start: {}", message(lljit.takeError()));
  auto process = llvm::orc::DynamicLibrarySearchGenerator::GetForCurrentProcess(
      (*lljit)->getDataLayout().getGlobalPrefix());
  if (!process)
    return makeError("LLVM's JIT cannot see this process: {}", message(process.takeError()));
  (*lljit)->getMainJITDylib().addGenerator(std::move(*process));

  // Groups compile in parallel, each in its own LLVM context.
  std::vector<Group> groups = partition(kernels, static_cast<size_t>(std::max(1, options.threads)));
  DiskCache cache(options.cacheDir);
  const llvm::DataLayout layout = (*lljit)->getDataLayout();
#pragma omp parallel for schedule(dynamic) num_threads(static_cast<int>(groups.size()))
  for (size_t i = 0; i < groups.size(); ++i)
    compileGroup(groups[i], kernels, *jtmb, layout, cache, options.keepIR);

  std::unique_ptr<Jit> jit(new Jit);
  for (Group &g : groups) {
    if (!g.error.empty())
      return makeError("{}", g.error);
    jit->ir_ += g.ir;
    jit->assembly_ += g.assembly;
    jit->cachedGroups_ += g.cached;
    auto buffer = llvm::MemoryBuffer::getMemBufferCopy(g.object, "kiln-kernels");
    if (auto err = (*lljit)->addObjectFile(std::move(buffer)))
      return makeError("LLVM's JIT rejects the compiled kernels: {}", message(std::move(err)));
  }
  jit->groups_ = groups.size();
  for (const Kernel &k : kernels) {
    auto sym = (*lljit)->lookup(k.name);
    if (!sym)
      return makeError("kernel {}: {}", k.name, message(sym.takeError()));
    jit->functions_.push_back(sym->toPtr<KernelFn>());
    KernelFn finish = nullptr;
    if (!k.finish.empty()) {
      auto f = (*lljit)->lookup(finishSymbol(k));
      if (!f)
        return makeError("kernel {}: {}", k.name, message(f.takeError()));
      finish = f->toPtr<KernelFn>();
    }
    jit->finishes_.push_back(finish);
  }
  jit->state_ = std::make_unique<State>();
  jit->state_->jit = std::move(*lljit);
  return jit;
}

} // namespace kiln::codegen
