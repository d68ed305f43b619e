using QuantPS.Gguf;
using QuantPS.Inference.Engine;
using QuantPS.Tests.Gguf;
using QuantPS.TestSupport;
using Xunit;

namespace QuantPS.Tests.Engine;

/// <summary>
/// RoPE context-extension scaling (linear, YaRN, llama 3's rope_freqs, longrope, other freq bases) against llama.cpp's
/// logits for the SyntheticRope models over a 320-token prompt, and the parsing of the rope.scaling keys.
/// </summary>
public sealed class RopeScalingTests
{
    // F16 weights and an F16 KV cache; measured at most 0.001 on every variant (the 0.05 of the qwen tests would hide
    // the smaller RoPE effects of these flat-attention models).
    private const float Tolerance = 0.01f;

    // Each variant, and the variants it must differ from by more than 5 x Tolerance (so a scaling that did nothing fails).
    public static TheoryData<string, string[]> Cases => new()
    {
        { "plain", [] },
        { "linear", ["plain"] },
        { "yarn", ["plain", "linear"] },
        { "freq-base", ["plain"] },
        { "llama3", ["plain"] },
        { "qwen2", ["plain"] },
        { "qwen2-yarn", ["qwen2"] },
        { "longrope", ["plain", "longrope-short"] },
        { "longrope-short", ["plain"] },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Scaled_logits_match_llama_cpp(string name, string[] differsFrom)
    {
        using var temp = new TempFolder();
        using var model = LlmModel.Load(SyntheticRope.Write(temp.Path, SyntheticRope.Get(name)));
        using var context = model.CreateContext(new ContextOptions { ContextLength = 512, Threads = 2 });
        var all = context.EvaluateAll(SyntheticRope.PromptIds(), TestContext.Current.CancellationToken);

        var vocab = model.Config.VocabularySize;
        var expected = SyntheticRope.Reference(name);
        Assert.Equal(SyntheticRope.KeptPositions.Length * vocab, expected.Length);
        var actual = new float[expected.Length];
        for (var r = 0; r < SyntheticRope.KeptPositions.Length; r++)
        {
            Array.Copy(all, (long)SyntheticRope.KeptPositions[r] * vocab, actual, (long)r * vocab, vocab);
        }

        var diff = GoldenLogits.MaxAbsDiff(expected, actual);
        TestContext.Current.TestOutputHelper?.WriteLine($"{name}: max |Δlogit| {diff}");
        Assert.True(diff <= Tolerance, $"{name}: max |Δlogit| {diff}");
        foreach (var other in differsFrom)
        {
            var apart = GoldenLogits.MaxAbsDiff(expected, SyntheticRope.Reference(other));
            Assert.True(apart > 5 * Tolerance, $"{name} vs {other}: max |Δlogit| only {apart}");
        }
    }

    [Fact]
    public void Variants_carry_the_configuration_llama_cpp_prints()
    {
        var yarn = Config(SyntheticRope.Get("yarn"));
        Assert.Equal((RopeScaling.Yarn, 0.25f, 128, 512), (yarn.RopeScaling, yarn.RopeFreqScale, yarn.RopeOriginalContextLength, yarn.TrainedContextLength));
        var linear = Config(SyntheticRope.Get("linear"));
        Assert.Equal((RopeScaling.Linear, 0.25f, 2048), (linear.RopeScaling, linear.RopeFreqScale, linear.RopeOriginalContextLength));
        var longRope = Config(SyntheticRope.Get("longrope"));
        Assert.Equal((RopeScaling.LongRope, 1f, 128), (longRope.RopeScaling, longRope.RopeFreqScale, longRope.RopeOriginalContextLength));
        Assert.Equal(1.1338934f, longRope.RopeAttentionFactor, 1e-6f);
        Assert.Equal((RopeLayout.Neox, 1000000f), (Config(SyntheticRope.Get("qwen2-yarn")).RopeLayout, Config(SyntheticRope.Get("qwen2-yarn")).RopeFreqBase));
    }

    [Fact]
    public void An_unknown_scaling_type_names_the_key_and_the_supported_ones()
    {
        var e = Assert.Throws<LlmException>(() => Config(("rope.scaling.type", "dynamic")));
        Assert.Equal((LlmErrorKind.InvalidMetadata, "llama.rope.scaling.type"), (e.Kind, e.Subject));
        Assert.Contains("'dynamic'", e.Message, StringComparison.Ordinal);
        Assert.Contains("none, linear, yarn, longrope", e.Message, StringComparison.Ordinal);

        e = Assert.Throws<LlmException>(() => Config(("rope.scaling.type", 3u)));
        Assert.Equal((LlmErrorKind.InvalidMetadata, "llama.rope.scaling.type"), (e.Kind, e.Subject));
    }

    [Fact]
    public void The_factor_follows_llama_cpp_defaults()
    {
        // No type means "linear"; no factor, or 0, means unscaled.
        var none = Config();
        Assert.Equal((RopeScaling.Linear, 1f), (none.RopeScaling, none.RopeFreqScale));
        Assert.Equal(1f, Config(("rope.scaling.factor", 0f)).RopeFreqScale);
        Assert.Equal(1f, Config(("rope.scaling.type", "yarn"), ("rope.scaling.factor", 0f)).RopeFreqScale);

        // The old key rope.scale_linear counts only when rope.scaling.factor is absent (even a 0 one wins).
        Assert.Equal(0.5f, Config(("rope.scale_linear", 2f)).RopeFreqScale);
        Assert.Equal(0.25f, Config(("rope.scale_linear", 2f), ("rope.scaling.factor", 4f)).RopeFreqScale);
        Assert.Equal(1f, Config(("rope.scale_linear", 2f), ("rope.scaling.factor", 0f)).RopeFreqScale);

        // "none" never scales, whatever the factor.
        Assert.Equal(1f, Config(("rope.scaling.type", "none"), ("rope.scaling.factor", 4f)).RopeFreqScale);

        var e = Assert.Throws<LlmException>(() => Config(("rope.scaling.factor", -2f)));
        Assert.Equal((LlmErrorKind.InvalidMetadata, "llama.rope.scaling.factor"), (e.Kind, e.Subject));
    }

    [Fact]
    public void Longrope_is_accepted_and_its_other_keys_follow_llama_cpp()
    {
        var c = Config(("rope.scaling.type", "longrope"), ("rope.scaling.attn_factor", 1.19f), ("rope.scaling.finetuned", true));
        Assert.Equal((RopeScaling.LongRope, 1f, 1.19f, true), (c.RopeScaling, c.RopeFreqScale, c.RopeAttentionFactor, c.RopeFinetuned));

        // original_context_length 0 means "unset": the trained context, as llama_context does.
        Assert.Equal(2048, Config(("rope.scaling.original_context_length", 0u)).RopeOriginalContextLength);

        // llama.cpp reads YaRN's beta and ext/attn overrides only for grok/deepseek2: the llama family keeps the defaults.
        var yarn = Config(("rope.scaling.type", "yarn"), ("rope.scaling.yarn_beta_fast", 16f), ("rope.scaling.yarn_beta_slow", 2f));
        Assert.Equal((32f, 1f), (yarn.YarnBetaFast, yarn.YarnBetaSlow));
    }

    [Fact]
    public unsafe void Longrope_picks_long_factors_past_the_original_context_as_llama_cpp()
    {
        using var temp = new TempFolder();
        using var model = LlmModel.Load(SyntheticRope.Write(temp.Path, SyntheticRope.Get("longrope-short")));
        var w = model.Weights;
        Assert.True(w.RopeFactorsLong != null && w.RopeFactorsShort != null && w.RopeFrequencyFactors == null);

        // Original context 1024; llama.cpp pads n_ctx to a multiple of 256 before comparing.
        Assert.True(Rope.FactorsFor(model.Config, w, 1024) == w.RopeFactorsShort);
        Assert.True(Rope.FactorsFor(model.Config, w, 1000) == w.RopeFactorsShort);
        Assert.True(Rope.FactorsFor(model.Config, w, 1025) == w.RopeFactorsLong);
    }

    /// <summary>
    /// How Data/ was made: writes every variant's model and the prompt ids to QUANTPS_ROPE_EXPORT (for the reference
    /// harness), or to a temporary folder, where each written model must load.
    /// </summary>
    [Fact]
    public void Variant_models_export_for_the_reference_harness()
    {
        using var temp = new TempFolder();
        var folder = Environment.GetEnvironmentVariable("QUANTPS_ROPE_EXPORT") is { Length: > 0 } export ? export : temp.Path;
        Directory.CreateDirectory(folder);
        foreach (var variant in SyntheticRope.Variants)
        {
            SyntheticRope.Write(folder, variant);
        }

        File.WriteAllText(Path.Combine(folder, "prompt_ids.txt"), SyntheticRope.Describe(SyntheticRope.PromptIds()));
        File.WriteAllText(Path.Combine(folder, "kept_positions.txt"), SyntheticRope.Describe(SyntheticRope.KeptPositions));
        Assert.All(SyntheticRope.Variants, variant => Assert.True(File.Exists(Path.Combine(folder, $"synth-256-rope-{variant.Name}.gguf")), variant.Name));
    }

    private static ModelConfig Config(SyntheticRope.Variant variant)
    {
        using var temp = new TempFolder();
        using var gguf = GgufModel.Open(SyntheticRope.Write(temp.Path, variant));
        return ModelConfig.FromMetadata(gguf.Metadata);
    }

    // synth-256's metadata with llama.<key> entries added or replaced.
    private static ModelConfig Config(params (string Key, object Value)[] keys)
    {
        using var source = GgufModel.Open(SharedData.File(SyntheticRope.Source));
        var entries = source.Metadata.Where(e => !keys.Any(k => "llama." + k.Key == e.Key)).ToList();
        entries.AddRange(keys.Select(k => GgufMetadataEntry.Of("llama." + k.Key, k.Value)));
        return ModelConfig.FromMetadata(new GgufMetadata(entries));
    }
}
