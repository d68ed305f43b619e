using System.Globalization;
using QuantPS.Gguf;
using QuantPS.Kernels;
using QuantPS.TestSupport;

namespace QuantPS.Tests.Engine;

/// <summary>
/// synth-256 (golden README section 1) rewritten with the GGUF writer into one model per RoPE scaling setup: the
/// same weights with rope keys added (and factor tensors for llama 3 / longrope), optionally renamed to qwen2 (NEOX
/// layout; its Q/K/V biases are optional in llama.cpp, so none are added). llama.cpp's logits for these models at
/// <see cref="KeptPositions"/> of <see cref="PromptIds"/> are in Data/ (see Data/README.md).
/// </summary>
internal static class SyntheticRope
{
    public const string Source = SyntheticArchitectures.Source; // the same synth-256 both families of test models start from

    /// <summary>Tokens in the prompt: well past the 128-token original context of the YaRN and longrope variants.</summary>
    public const int PromptLength = 320;

    /// <summary>The positions whose logits rows are kept in Data/ (the whole prompt would be 640 KiB per variant).</summary>
    public static readonly int[] KeptPositions = [0, 1, 63, 127, 128, 129, 200, 255, 256, 300, 319];

    /// <summary>One model: its name, architecture, the keys it adds (without the "arch." prefix) and its F32 vectors.</summary>
    public sealed record Variant(string Name, string Architecture, IReadOnlyDictionary<string, object> Keys,
        IReadOnlyDictionary<string, float[]>? Tensors = null);

    public static readonly IReadOnlyList<Variant> Variants =
    [
        new("plain", "llama", new Dictionary<string, object>()),
        new("linear", "llama", new Dictionary<string, object> { ["rope.scaling.type"] = "linear", ["rope.scaling.factor"] = 4f }),
        new("yarn", "llama", Yarn()),
        new("freq-base", "llama", new Dictionary<string, object> { ["rope.freq_base"] = 500000f }),
        new("llama3", "llama", new Dictionary<string, object> { ["rope.freq_base"] = 500000f },
            new Dictionary<string, float[]> { ["rope_freqs.weight"] = Llama3Factors(500000.0, 64) }),
        new("qwen2", "qwen2", new Dictionary<string, object> { ["rope.freq_base"] = 1000000f }),
        new("qwen2-yarn", "qwen2", new Dictionary<string, object>(Yarn()) { ["rope.freq_base"] = 1000000f }),
        new("longrope", "llama", LongRope(128), LongRopeFactors()),
        new("longrope-short", "llama", LongRope(1024), LongRopeFactors()),
    ];

    /// <summary>BOS, then a deterministic walk over the vocabulary (ids 3..511: no special tokens).</summary>
    public static int[] PromptIds() =>
        Enumerable.Range(0, PromptLength).Select(i => i == 0 ? 1 : 3 + ((i * 137) + (i * i % 31)) % 509).ToArray();

    public static Variant Get(string name) => Variants.Single(v => v.Name == name);

    public static string Write(string folder, Variant variant)
    {
        using var source = GgufModel.Open(SharedData.File(Source));
        var prefix = variant.Architecture + ".";
        var entries = SyntheticArchitectures.RenamedMetadata(source, variant.Architecture)
            .Where(e => !(e.Key.StartsWith(prefix, StringComparison.Ordinal) && variant.Keys.ContainsKey(e.Key[prefix.Length..])))
            .ToList();
        entries.AddRange(variant.Keys.Select(k => GgufMetadataEntry.Of(prefix + k.Key, k.Value)));

        var specs = source.Tensors.Select(t => new GgufTensorSpec(t.Name, t.Type, t.Shape)).ToList();
        var data = source.Tensors.Select(t => source.GetTensorData(t).ToArray()).ToList();
        foreach (var (name, values) in variant.Tensors ?? new Dictionary<string, float[]>())
        {
            var bytes = new byte[values.Length * sizeof(float)];
            Buffer.BlockCopy(values, 0, bytes, 0, bytes.Length);
            specs.Add(new GgufTensorSpec(name, GgmlType.F32, [values.Length]));
            data.Add(bytes);
        }

        var path = Path.Combine(folder, $"synth-256-rope-{variant.Name}.gguf");
        GgufWriter.Write(path, entries, specs, i => data[i]);
        return path;
    }

    /// <summary>The kept rows of llama.cpp's logits for <paramref name="variant"/>: KeptPositions.Length x 512.</summary>
    public static float[] Reference(string variant) => GoldenLogits.TestData($"synth-256-rope-{variant}.logits.f32");

    // YaRN as Qwen 2.5 ships it: factor 4 over an original context of 128 (trained context 512).
    private static Dictionary<string, object> Yarn() => new()
    {
        ["rope.scaling.type"] = "yarn",
        ["rope.scaling.factor"] = 4f,
        ["rope.scaling.original_context_length"] = 128u,
        ["context_length"] = 512u,
    };

    // phi3-style: no factor key, an attention factor sqrt(1 + ln(4) / ln(128)), per-frequency long/short divisors.
    private static Dictionary<string, object> LongRope(uint originalContext) => new()
    {
        ["rope.scaling.type"] = "longrope",
        ["rope.scaling.original_context_length"] = originalContext,
        ["rope.scaling.attn_factor"] = (float)Math.Sqrt(1 + (Math.Log(4) / Math.Log(128))),
        ["context_length"] = 512u,
    };

    private static Dictionary<string, float[]> LongRopeFactors() => new()
    {
        // Grow from 1 at the fast frequencies to ~6 (long) / ~1.5 (short) at the slow ones, as phi3's tables do.
        ["rope_factors_long.weight"] = Enumerable.Range(0, 32).Select(i => 1f + (5f * i * i / (31f * 31f))).ToArray(),
        ["rope_factors_short.weight"] = Enumerable.Range(0, 32).Select(i => 1f + (0.5f * i / 31f)).ToArray(),
    };

    /// <summary>
    /// rope_freqs as llama.cpp's converter computes it for llama 3.1 (rope_type "llama3": factor 8, low_freq_factor 1,
    /// high_freq_factor 4, original_max_position_embeddings 8192), in double, stored as float.
    /// </summary>
    public static float[] Llama3Factors(double theta, int dims)
    {
        const double Factor = 8, Low = 1, High = 4, Original = 8192;
        var factors = new float[dims / 2];
        for (var i = 0; i < factors.Length; i++)
        {
            var freq = 1.0 / Math.Pow(theta, 2.0 * i / dims);
            var wavelength = 2 * Math.PI / freq;
            factors[i] = wavelength < Original / High ? 1f
                : wavelength > Original / Low ? (float)Factor
                : (float)(1 / ((1 - Smooth(wavelength)) / Factor + Smooth(wavelength)));
        }

        return factors;

        static double Smooth(double wavelength) => ((Original / wavelength) - Low) / (High - Low);
    }

    public static string Describe(int[] ids) => string.Join(' ', ids.Select(i => i.ToString(CultureInfo.InvariantCulture)));
}
