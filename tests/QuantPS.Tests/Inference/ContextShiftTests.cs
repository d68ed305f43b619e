using QuantPS.Inference.Engine;
using QuantPS.Inference.Generation;
using QuantPS.Tests.Gguf;
using QuantPS.TestSupport;
using Xunit;

namespace QuantPS.Tests.Engine;

/// <summary>
/// Context shifting (llama.cpp's --context-shift): a shift forgets [keep, keep + discard) and moves the later
/// positions down, re-rotating their keys. Checked at the key level on every RoPE variant and cache type (layer 0's
/// keys depend on the token alone, so a shifted key must be the key computed at its new position; deeper layers'
/// were computed with the discarded tokens in view and legitimately differ), and end to end against
/// llama-completion's greedy text across several shifts.
/// </summary>
public sealed class ContextShiftTests
{
    private const int Keep = 4;
    private const int Discard = 30;
    private const int Tokens = 100;

    // R(-d) round(R(p + d) k), rounded again, against round(R(p) k), per value relative to the row's largest: float
    // rounding alone in an F32 cache (measured <= 1e-6); in F16 and Q8_0 the cache's rounding twice on one side and
    // once on the other, so up to two steps (F16: 2^-10 of the binade; Q8_0: the block's largest / 127; measured one).
    private const float F32Tolerance = 2e-5f;
    private const float F16Tolerance = 2e-3f;
    private const float Q8Tolerance = 1.6e-2f;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public static TheoryData<string, KvCacheType> Cases()
    {
        var cases = new TheoryData<string, KvCacheType>();
        foreach (var variant in SyntheticRope.Variants)
        {
            cases.Add(variant.Name, KvCacheType.F32);
        }

        foreach (var variant in new[] { "plain", "qwen2", "yarn" })
        {
            cases.Add(variant, KvCacheType.F16);
            cases.Add(variant, KvCacheType.Q8_0);
        }

        return cases;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public unsafe void A_shifted_key_is_the_key_computed_at_its_new_position(string variant, KvCacheType cache)
    {
        using var temp = new TempFolder();
        using var model = LlmModel.Load(SyntheticRope.Write(temp.Path, SyntheticRope.Get(variant)));
        var ids = SyntheticRope.PromptIds()[..Tokens];
        var options = new ContextOptions { ContextLength = 128, Threads = 2, KvCacheType = cache };
        var tolerance = cache switch { KvCacheType.F32 => F32Tolerance, KvCacheType.F16 => F16Tolerance, _ => Q8Tolerance };
        using var shifted = model.CreateContext(options);
        using var fresh = model.CreateContext(options);
        shifted.EvaluateAll(ids, Ct);
        shifted.Shift(Keep, Discard);
        fresh.EvaluateAll([.. ids[..Keep], .. ids[(Keep + Discard)..]], Ct);
        Assert.Equal(fresh.Position, shifted.Position);

        // As llama.cpp's K shift, the rotation carries RoPE's magnitude factor again (YaRN's mscale, longrope's factor).
        var config = model.Config;
        var magnitude = config.RopeScaling == RopeScaling.Yarn ? 1f + (0.1f * MathF.Log(1f / config.RopeFreqScale)) : 1f;
        magnitude *= config.RopeAttentionFactor;
        var width = shifted.Cache.RowValues;
        var a = new float[width];
        var b = new float[width];
        fixed (float* pa = a)
        fixed (float* pb = b)
        {
            for (var p = 0; p < shifted.Position; p++)
            {
                shifted.Cache.ReadKey(0, p, pa);
                fresh.Cache.ReadKey(0, p, pb);
                var scale = p < Keep ? 1f : magnitude; // kept positions do not move
                var largest = b.Max(MathF.Abs);
                var worst = Enumerable.Range(0, width).Max(i => MathF.Abs(a[i] - (scale * b[i])));
                Assert.True(worst <= tolerance * scale * largest, $"{variant} {cache}: key at {p} off by {worst} (largest {largest})");
                Assert.True(new ReadOnlySpan<byte>(shifted.Cache.Value(0, p), (int)shifted.Cache.RowBytes)
                    .SequenceEqual(new ReadOnlySpan<byte>(fresh.Cache.Value(0, p), (int)fresh.Cache.RowBytes)), $"{variant} {cache}: value at {p}");
            }
        }
    }

    [Fact]
    public void A_ring_cache_cannot_shift_and_a_full_window_cache_can()
    {
        using var temp = new TempFolder();
        using var model = LlmModel.Load(SyntheticArchitectures.Write(temp.Path, "gemma2"));
        using var ring = model.CreateContext(new ContextOptions { ContextLength = 512, Threads = 1, BatchSize = 64 });
        using var full = model.CreateContext(new ContextOptions { ContextLength = 512, Threads = 1, BatchSize = 64, FullSlidingWindowCache = true });
        using var plain = model.CreateContext(new ContextOptions { ContextLength = 512, Threads = 1 });
        Assert.False(ring.CanShift);
        Assert.True(full.CanShift);
        Assert.Equal(plain.KvCacheBytes, full.KvCacheBytes); // every layer keeps all 512 positions
        ring.EvaluateAll(SyntheticRope.PromptIds()[..80], Ct);
        var e = Assert.Throws<LlmException>(() => ring.Shift(1, 10));
        Assert.Equal(LlmErrorKind.InvalidOption, e.Kind);

        // gemma2 through the generator: ContextShift asks for the full-window cache and goes past the context.
        using var generator = new TextGenerator(model);
        var result = generator.Generate(SyntheticRope.PromptIds()[..20],
            new GenerationOptions { Temperature = 0, MaxTokens = 100, IgnoreEos = true, ContextLength = 48, ContextShift = true, Threads = 1 }, null, Ct);
        Assert.Equal((100, StopReason.MaxTokens), (result.GeneratedTokens, result.StopReason));
    }

    [Theory]
    [InlineData("Once upon a time", 700, 0, "stories260K.once-upon-a-time.ctx256.n700.txt")]
    [InlineData("Tom and his dog went to the park.", 600, -1, "stories260K.tom-and-his-dog.ctx256.n600.keep-all.txt")]
    public void Greedy_text_past_the_context_is_llama_completions(string prompt, int tokens, int keep, string expectedFile)
    {
        // llama-completion -c 256 -n <tokens> --temp 0 --ignore-eos --context-shift --keep <keep> (Data/README.md):
        // two or more shifts within the run, F16 cache, one thread.
        using var generator = new TextGenerator(LlmModel.Load(SharedData.File(ModelEdits.Stories)), ownsModel: true);
        var result = generator.Generate(prompt,
            new GenerationOptions { Temperature = 0, MaxTokens = tokens, IgnoreEos = true, ContextLength = 256, ContextShift = true, Keep = keep, Threads = 1 }, null, Ct);
        var expected = File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Inference", "Data", "context-shift", expectedFile));
        Assert.Equal((tokens, StopReason.MaxTokens), (result.GeneratedTokens, result.StopReason));
        Assert.Equal(expected, result.Text);
    }

    [Fact]
    public void A_shift_with_nothing_to_forget_stops_with_ContextFull()
    {
        // -Keep -1 keeps the whole prompt: once it fills the context there is nothing to discard.
        using var generator = new TextGenerator(LlmModel.Load(SharedData.File(ModelEdits.Stories)), ownsModel: true);
        var prompt = generator.Model.Tokenizer.Encode("Tom and his dog went to the park.", true, true);
        var result = generator.Generate(prompt,
            new GenerationOptions { Temperature = 0, MaxTokens = 50, IgnoreEos = true, ContextLength = prompt.Length + 1, ContextShift = true, Keep = -1, Threads = 1 }, null, Ct);
        Assert.Equal((1, StopReason.ContextFull), (result.GeneratedTokens, result.StopReason));

        var e = Assert.Throws<LlmException>(() => generator.Generate(prompt, new GenerationOptions { Keep = -2 }, null, Ct));
        Assert.Equal(LlmErrorKind.InvalidOption, e.Kind);
    }
}
