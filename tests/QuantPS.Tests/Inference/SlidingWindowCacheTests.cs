using QuantPS.Gguf;
using QuantPS.Inference.Engine;
using QuantPS.Tests.Gguf;
using QuantPS.TestSupport;
using Xunit;

namespace QuantPS.Tests.Engine;

/// <summary>
/// gemma2's sliding-window layers keep window + batch cache cells, used round-robin: the synthetic gemma2 (window 8,
/// layers 0, 2, 4) with batches of 64 keeps 72 cells on those layers, so its 168-token prompt wraps them twice.
/// </summary>
public sealed class SlidingWindowCacheTests
{
    // As ArchitectureTests: F16 weights and cache against llama.cpp's logits.
    private const float Tolerance = 0.01f;

    private const int Context = 512;
    private const int Batch = 64;

    [Fact]
    public void A_wrapped_window_cache_matches_llama_cpp_and_takes_less_memory()
    {
        using var temp = new TempFolder();
        using var model = LlmModel.Load(SyntheticArchitectures.Write(temp.Path, "gemma2"));
        var ids = GoldenLogits.Ids("synth-256-F16", "p2_paragraph.prompt_ids.txt");
        var expected = GoldenLogits.TestData("synth-256-gemma2.p2_paragraph.logits.f32");
        using var ring = model.CreateContext(new ContextOptions { ContextLength = Context, Threads = 2, BatchSize = Batch });
        using var full = model.CreateContext(new ContextOptions { ContextLength = Context, Threads = 2 });

        // Three of six layers keep 8 + 64 cells instead of 512.
        Assert.Equal(full.KvCacheBytes / 2 + (full.KvCacheBytes / 2 / Context * (SyntheticArchitectures.Gemma2SlidingWindow + Batch)), ring.KvCacheBytes);

        // Batches of 64 (the tiled attention path, its first key tile reaching before the window) past the ring's end.
        var batched = GoldenLogits.MaxAbsDiff(expected, ring.EvaluateAll(ids, TestContext.Current.CancellationToken));
        Assert.True(batched <= Tolerance, $"batches of {Batch}: max |Δlogit| {batched}");

        // One token at a time, the ring and the full cache give the same logits bit for bit.
        ring.Reset();
        var vocab = model.Config.VocabularySize;
        for (var t = 0; t < ids.Length; t++)
        {
            var a = ring.Decode(ids[t], TestContext.Current.CancellationToken).ToArray();
            var b = full.Decode(ids[t], TestContext.Current.CancellationToken);
            Assert.True(b.SequenceEqual(a), $"token {t}: the ring's logits differ from the full cache's");
            Assert.True(GoldenLogits.MaxAbsDiff(expected.AsSpan(t * vocab, vocab), a) <= Tolerance, $"token {t}");
        }
    }

    [Fact]
    public void Truncating_works_while_the_window_before_it_is_still_cached()
    {
        using var temp = new TempFolder();
        using var model = LlmModel.Load(SyntheticArchitectures.Write(temp.Path, "gemma2"));
        var ids = GoldenLogits.Ids("synth-256-F16", "p2_paragraph.prompt_ids.txt");
        using var context = model.CreateContext(new ContextOptions { ContextLength = Context, Threads = 2, BatchSize = Batch });
        var first = context.EvaluateAll(ids, TestContext.Current.CancellationToken);
        var vocab = model.Config.VocabularySize;

        // 168 positions written into 72 cells: position p is gone once p + 72 <= 167, and going back to P needs P - 7 on.
        var window = (int)SyntheticArchitectures.Gemma2SlidingWindow;
        var oldest = ids.Length - Batch - window; // 96: needs 89.., and 89 + 72 = 161 <= 167 is written
        Assert.False(context.CanTruncate(oldest));
        Assert.True(context.CanTruncate(oldest + 8)); // 104 needs 97.., 97 + 72 = 169 not written
        var e = Assert.Throws<LlmException>(() => context.Truncate(oldest));
        Assert.Equal(LlmErrorKind.InvalidOption, e.Kind);
        Assert.Equal(ids.Length, context.Position);

        // Back to 150 and the same tokens again: the same logits as the first pass.
        context.Truncate(150);
        for (var t = 150; t < ids.Length; t++)
        {
            var row = context.Decode(ids[t], TestContext.Current.CancellationToken);
            Assert.True(GoldenLogits.MaxAbsDiff(first.AsSpan(t * vocab, vocab), row) <= Tolerance, $"token {t} after truncating");
        }

        // A model without sliding-window layers can go back anywhere.
        using var llama = LlmModel.Load(SyntheticArchitectures.Write(temp.Path, "qwen2"));
        using var plain = llama.CreateContext(new ContextOptions { ContextLength = Context, Threads = 2, BatchSize = Batch });
        plain.EvaluateAll(ids, TestContext.Current.CancellationToken);
        Assert.True(plain.CanTruncate(0));
    }

    [Fact]
    public void The_window_pattern_is_a_period_and_an_array_there_is_ignored_as_llama_cpp_does()
    {
        using var temp = new TempFolder();
        var path = SyntheticArchitectures.Write(temp.Path, "gemma2");
        bool[] Sliding(object pattern)
        {
            using var source = GgufModel.Open(path);
            var entries = source.Metadata.Append(GgufMetadataEntry.Of("gemma2.attention.sliding_window_pattern", pattern)).ToList();
            var copy = Path.Combine(temp.Path, $"pattern-{Guid.NewGuid():N}.gguf");
            var tensors = source.Tensors.ToList();
            GgufWriter.Write(copy, entries, tensors.Select(t => new GgufTensorSpec(t.Name, t.Type, t.Shape)).ToList(), i => source.GetTensorData(tensors[i]).ToArray());
            using var model = LlmModel.Load(copy);
            return Enumerable.Range(0, model.Config.LayerCount).Select(model.Config.IsSlidingWindowLayer).ToArray();
        }

        // llama_hparams::set_swa_pattern: layer il slides when il % period < period - 1 (0: every layer).
        Assert.Equal([true, true, false, true, true, false], Sliding(3u));
        Assert.Equal([true, true, true, true, true, true], Sliding(0u));

        // get_key_or_arr into one integer skips an array: the default period, 2, holds.
        Assert.Equal([true, false, true, false, true, false], Sliding(new GgufArray(GgufValueType.Bool, new[] { true, true, false, true, true, false })));
    }
}
