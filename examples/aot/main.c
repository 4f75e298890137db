/*===- examples/aot/main.c - Training with no kiln library at all ---------===
 *
 * Trains the zoo's VGG-style net on Fashion-MNIST with the object that
 *
 *   kiln compile --model vgg --train --batch-sizes 64,32 -o vgg.o
 *
 * wrote, and its header vgg.h: the data loading, the shuffling, the
 * learning rate schedule and the loop are this program's; the training
 * step, the inference and the state are the object's. It links with libc,
 * libm, OpenMP and zlib (for the .gz dataset files), nothing of kiln:
 *
 *   cc -O2 main.c vgg.o -fopenmp -lm -lz -o train
 *   ./train [--data DIR] [--epochs E] [--lr LR] [--schedule constant|cosine]
 *           [--limit N] [--test-limit N] [--seed S] [--save FILE.safetensors]
 *
 * The order of the examples is `kiln train`'s (its seeded Fisher-Yates
 * shuffle), so with the same recipe the two runs see the same batches.
 *
 *===----------------------------------------------------------------------===*/
#include "vgg.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#define BATCH 64
#define PIXELS (28 * 28)

/* An IDX file (gzip'ed) of `count` items of `item` bytes; NULL on error. */
static unsigned char *read_idx(const char *dir, const char *name, int64_t *count, int64_t item) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  gzFile f = gzopen(path, "rb");
  if (!f) {
    fprintf(stderr, "train: cannot open %s (apt-get install dataset-fashion-mnist)\n", path);
    return NULL;
  }
  unsigned char head[16];
  int dims = item == 1 ? 8 : 16;
  if (gzread(f, head, (unsigned)dims) != dims) {
    gzclose(f);
    return NULL;
  }
  *count = (int64_t)head[4] << 24 | head[5] << 16 | head[6] << 8 | head[7];
  unsigned char *data = malloc((size_t)(*count * item));
  if (data && gzread(f, data, (unsigned)(*count * item)) != (int)(*count * item)) {
    free(data);
    data = NULL;
  }
  gzclose(f);
  return data;
}

/* Images normalized as kiln's loader does: (x / 255 - 0.2860) / 0.3530. */
static float *normalize(const unsigned char *raw, int64_t n) {
  float *out = malloc((size_t)(n * PIXELS) * sizeof *out);
  for (int64_t i = 0; out && i < n * PIXELS; ++i)
    out[i] = ((float)raw[i] / 255.0f - 0.2860f) / 0.3530f;
  return out;
}

/* kiln's counter-based stream (ir/Initializer.h) and its shuffle (runtime/Data.cpp). */
static uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
static double hash_uniform(uint64_t seed, uint64_t index) {
  return (double)(mix64(mix64(seed + 0x9e3779b97f4a7c15ull) ^ (index * 0xd1b54a32d192ed03ull)) >> 11) * 0x1.0p-53;
}
static void shuffle(int64_t *order, int64_t n, uint64_t seed, int64_t epoch) {
  for (int64_t i = 0; i < n; ++i)
    order[i] = i;
  uint64_t stream = mix64(seed ^ ((uint64_t)epoch * 0x9e3779b97f4a7c15ull));
  for (int64_t i = n; i > 1; --i) {
    int64_t j = (int64_t)(hash_uniform(stream, (uint64_t)i) * (double)i);
    if (j > i - 1)
      j = i - 1;
    int64_t t = order[i - 1];
    order[i - 1] = order[j];
    order[j] = t;
  }
}

static int check(int st, const char *what) {
  if (st)
    fprintf(stderr, "train: %s: %s\n", what, vgg_error(st));
  return st;
}

/* Test accuracy through the inference entry, 256 images at a time. */
static double accuracy(vgg_model *m, const float *images, const unsigned char *labels, int64_t n, void *ws) {
  float logits[256 * 10];
  int64_t right = 0;
  for (int64_t at = 0; at < n; at += 256) {
    int64_t b = n - at < 256 ? n - at : 256;
    vgg_inputs in = {images + at * PIXELS};
    vgg_outputs out = {logits};
    if (check(vgg_run(m, b, &in, &out, ws), "vgg_run"))
      return -1;
    for (int64_t i = 0; i < b; ++i) {
      int best = 0;
      for (int k = 1; k < 10; ++k)
        if (logits[i * 10 + k] > logits[i * 10 + best])
          best = k;
      right += best == labels[at + i];
    }
  }
  return 100.0 * (double)right / (double)n;
}

int main(int argc, char **argv) {
  const char *dir = "/usr/share/datasets/fashion-mnist", *save = NULL, *schedule = "constant";
  int epochs = 1;
  double lr = 0.01;
  int64_t limit = 0, testLimit = 0;
  uint64_t seed = 1;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--data")) dir = argv[i + 1];
    else if (!strcmp(argv[i], "--epochs")) epochs = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--lr")) lr = atof(argv[i + 1]);
    else if (!strcmp(argv[i], "--schedule")) schedule = argv[i + 1];
    else if (!strcmp(argv[i], "--limit")) limit = atoll(argv[i + 1]);
    else if (!strcmp(argv[i], "--test-limit")) testLimit = atoll(argv[i + 1]);
    else if (!strcmp(argv[i], "--seed")) seed = (uint64_t)atoll(argv[i + 1]);
    else if (!strcmp(argv[i], "--save")) save = argv[i + 1];
    else {
      fprintf(stderr, "train: unknown option %s\n", argv[i]);
      return 1;
    }
  }
  int64_t n, nl, nt, ntl;
  unsigned char *rawTrain = read_idx(dir, "train-images-idx3-ubyte.gz", &n, PIXELS);
  unsigned char *trainLabels = read_idx(dir, "train-labels-idx1-ubyte.gz", &nl, 1);
  unsigned char *rawTest = read_idx(dir, "t10k-images-idx3-ubyte.gz", &nt, PIXELS);
  unsigned char *testLabels = read_idx(dir, "t10k-labels-idx1-ubyte.gz", &ntl, 1);
  if (!rawTrain || !trainLabels || !rawTest || !testLabels || n != nl || nt != ntl)
    return 1;
  if (limit > 0 && limit < n)
    n = limit;
  if (testLimit > 0 && testLimit < nt)
    nt = testLimit;
  float *train = normalize(rawTrain, n), *test = normalize(rawTest, nt);

  vgg_model *m;
  if (check(vgg_init(&m, NULL), "vgg_init"))
    return 1;
  size_t wsBytes = vgg_workspace_size(256);
  if (vgg_workspace_size(BATCH) > wsBytes)
    wsBytes = vgg_workspace_size(BATCH);
  void *ws = malloc(wsBytes);
  float *images = malloc(BATCH * PIXELS * sizeof *images);
  int64_t labels[BATCH], *order = malloc((size_t)n * sizeof *order);
  int64_t steps = (int64_t)epochs * ((n + BATCH - 1) / BATCH), step = 0;
  for (int epoch = 0; epoch < epochs; ++epoch) {
    shuffle(order, n, seed, epoch);
    double lossSum = 0, right = 0;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int64_t at = 0; at < n; at += BATCH, ++step) {
      int64_t b = n - at < BATCH ? n - at : BATCH;
      for (int64_t i = 0; i < b; ++i) {
        memcpy(images + i * PIXELS, train + order[at + i] * PIXELS, PIXELS * sizeof *images);
        labels[i] = trainLabels[order[at + i]];
      }
      /* The caller's schedule: constant, or cosine from lr to 0 over the run (kiln train's). */
      double rate = !strcmp(schedule, "cosine") ? (cos((double)step / (double)steps * 3.14159265358979323846) + 1) * 0.5 * lr : lr;
      float loss, correct;
      if (check(vgg_step(m, b, images, labels, (float)rate, &loss, &correct, ws), "vgg_step"))
        return 1;
      lossSum += loss * (double)b;
      right += correct;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double seconds = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    double acc = accuracy(m, test, testLabels, nt, ws);
    if (acc < 0)
      return 1;
    printf("epoch %d: train loss %.4f, train accuracy %.2f%%, test accuracy %.2f%%, %.0f images/s\n", epoch + 1,
           lossSum / (double)n, 100.0 * right / (double)n, acc, (double)n / seconds);
  }
  if (save && check(vgg_save(m, save), "vgg_save"))
    return 1;
  vgg_free(m);
  free(ws);
  free(images);
  free(order);
  free(train);
  free(test);
  free(rawTrain);
  free(rawTest);
  free(trainLabels);
  free(testLabels);
  return 0;
}
