using QuantPS.Inference.Engine;
using Xunit;

namespace QuantPS.Tests.Engine;

/// <summary>The other cache settings against the goldens they are closest to.</summary>
public sealed class KvCacheTypeTests
{
    [Fact]
    public void F32_cache_with_flash_attention_matches_the_F32_no_flash_reference()
    {
        // Online softmax vs one softmax over the row: the same sums in another order, so the tight tolerance holds.
        const string folder = "stories260K-F32-kvf32-fa-off";
        using var model = GoldenLogitsTests.Load(folder);
        using var context = model.CreateContext(new ContextOptions { ContextLength = 512, Threads = 2, KvCacheType = KvCacheType.F32, FlashAttention = true });
        var ids = GoldenLogits.Ids(folder, "p2_paragraph.prompt_ids.txt");
        var logits = context.EvaluateAll(ids, TestContext.Current.CancellationToken);
        var diff = GoldenLogits.MaxAbsDiff(GoldenLogits.Floats(folder, "p2_paragraph.logits.f32"), logits);
        Assert.True(diff <= 1e-4f, $"max |Δlogit| {diff}"); // measured 1.4e-5
    }

    // Two float summation orders over the same products (logits of magnitude ~1, rows of 256): a few ulps.
    private const float SummationOrderTolerance = 1e-5f;

    [Fact]
    public void Q8_0_cache_stays_near_the_F16_cache_reference()
    {
        // synth-256 (head size 64). The Q8_0 cache's own rounding (about 1/254 of each head's range) is the difference;
        // bounded here by the golden README's F16-KV effect on stories260K scaled to synth-256's logit range.
        const string folder = "synth-256-F16";
        using var model = GoldenLogitsTests.Load(folder);
        using var q8 = model.CreateContext(new ContextOptions { ContextLength = 512, Threads = 2, KvCacheType = KvCacheType.Q8_0 });
        var ids = GoldenLogits.Ids(folder, "p2_paragraph.prompt_ids.txt");
        var logits = q8.EvaluateAll(ids, TestContext.Current.CancellationToken);
        var expected = GoldenLogits.Floats(folder, "p2_paragraph.logits.f32");
        var diff = GoldenLogits.MaxAbsDiff(expected, logits);
        Assert.True(diff <= 0.05f, $"max |Δlogit| {diff}"); // measured 0.013

        // and decoding through the Q8_0 cache with only the last row's logits gives the batched result's last row. The
        // cache and attention are the same; only the F16 output projection differs in summation order (one row takes
        // the dot kernel, a batch the float tiles), as llama.cpp's vec_dot and its GEMM do.
        q8.Reset();
        var last = q8.Decode(ids, TestContext.Current.CancellationToken).ToArray();
        var rowDiff = GoldenLogits.MaxAbsDiff(logits.AsSpan(logits.Length - 512).ToArray(), last);
        Assert.True(rowDiff <= SummationOrderTolerance, $"max |Δlogit| {rowDiff}");
    }

    // llama.cpp's own Q8_0-cache logits against ours: the same rotation and rounding, with Q8_0's steps tipped now and
    // then by another summation order (measured 0.0017; without the rotation 0.017).
    private const float Q8CacheTolerance = 0.01f;

    [Fact]
    public void Q8_0_cache_rotates_as_llama_cpp_does_and_matches_its_logits()
    {
        // llama.cpp 3f545bec with -ctk q8_0 -ctv q8_0 puts a Walsh-Hadamard rotation around the quantized cache
        // (attn_rot_k / attn_rot_v: synth-256's heads of 64); Data/README.md says how the reference was made.
        const string folder = "synth-256-F16";
        using var model = GoldenLogitsTests.Load(folder);
        var ids = GoldenLogits.Ids(folder, "p2_paragraph.prompt_ids.txt");
        var expected = GoldenLogits.TestData("synth-256-kv-q8_0.p2_paragraph.logits.f32");
        using var rotated = model.CreateContext(new ContextOptions { ContextLength = 512, Threads = 2, KvCacheType = KvCacheType.Q8_0 });
        var diff = GoldenLogits.MaxAbsDiff(expected, rotated.EvaluateAll(ids, TestContext.Current.CancellationToken));
        Assert.True(diff <= Q8CacheTolerance, $"max |Δlogit| {diff}");

        // The rotation is what brings it within: the plain Q8_0 cache is further from llama.cpp's.
        using var plain = model.CreateContext(new ContextOptions { ContextLength = 512, Threads = 2, KvCacheType = KvCacheType.Q8_0, RotateQuantizedCache = false });
        var unrotated = GoldenLogits.MaxAbsDiff(expected, plain.EvaluateAll(ids, TestContext.Current.CancellationToken));
        Assert.True(unrotated > Q8CacheTolerance, $"without the rotation: max |Δlogit| {unrotated}");
    }

    [Fact]
    public void Token_by_token_evaluation_agrees_with_the_batch()
    {
        // The batch of 168 tokens takes ggml's tiled attention path, single tokens the vector path: both within the
        // tolerance of F16 rounding tipped by a different summation order.
        const string folder = "synth-256-F16";
        using var model = GoldenLogitsTests.Load(folder);
        using var batch = model.CreateContext(new ContextOptions { ContextLength = 256, Threads = 2 });
        using var single = model.CreateContext(new ContextOptions { ContextLength = 256, Threads = 2 });
        var ids = GoldenLogits.Ids(folder, "p2_paragraph.prompt_ids.txt");
        var all = batch.EvaluateAll(ids, TestContext.Current.CancellationToken);
        var worst = 0f;
        for (var i = 0; i < ids.Length; i++)
        {
            var row = single.Decode(ids[i], TestContext.Current.CancellationToken);
            worst = Math.Max(worst, GoldenLogits.MaxAbsDiff(all.AsSpan(i * 512, 512), row));
        }

        Assert.True(worst <= 0.01f, $"max |Δlogit| {worst}"); // measured 0.0031
    }

    [Fact]
    public void Splitting_a_prompt_into_small_batches_changes_nothing_with_an_F32_cache_and_no_flash_attention()
    {
        // Every row's arithmetic is independent of the batch it is in (matmul rows, one softmax per query), so the
        // logits are bit-identical; with flash attention the path (vector or tiled) depends on the batch length.
        const string folder = "stories260K-F32-kvf32-fa-off";
        using var model = GoldenLogitsTests.Load(folder);
        var ids = GoldenLogits.Ids(folder, "p2_paragraph.prompt_ids.txt");
        float[] Run(int batch)
        {
            using var context = model.CreateContext(new ContextOptions
            {
                ContextLength = 256, Threads = 2, KvCacheType = KvCacheType.F32, FlashAttention = false, BatchSize = batch,
            });
            return context.EvaluateAll(ids, TestContext.Current.CancellationToken);
        }

        Assert.Equal(Run(512), Run(7));
    }
}
