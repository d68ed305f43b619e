using Xunit;
using System.Globalization;
using QuantPS.TestSupport;

namespace QuantPS.Tests.Engine;

/// <summary>One folder of ../shared/golden/logits and the model file it was made from (golden README section 4).</summary>
internal static class GoldenLogits
{
    public static readonly string[] Prompts = ["p0_empty", "p1_short", "p2_paragraph"];

    /// <summary>Folder -> model path under shared/.</summary>
    public static readonly IReadOnlyDictionary<string, string> Models = new Dictionary<string, string>
    {
        ["stories260K-F32"] = "models/tinyllamas-stories260K/stories260K.gguf",
        ["stories260K-F32-kvf32-fa-off"] = "models/tinyllamas-stories260K/stories260K.gguf",
        ["stories260K-F16"] = "golden/quantized/stories260K/stories260K-F16.gguf",
        ["stories260K-Q8_0-ffn_down-f16"] = "golden/quantized/stories260K/stories260K-Q8_0-ffn_down-f16.gguf",
        ["stories260K-Q4_0-ffn_down-f16"] = "golden/quantized/stories260K/stories260K-Q4_0-ffn_down-f16.gguf",
        ["stories260K-Q4_K_M"] = "golden/quantized/stories260K/stories260K-Q4_K_M.gguf",
        ["stories260K-Q5_K_S"] = "golden/quantized/stories260K/stories260K-Q5_K_S.gguf",
        ["synth-256-F16"] = "golden/models/synth-256.gguf",
        ["synth-256-Q8_0"] = "golden/quantized/synth-256/synth-256-Q8_0.gguf",
        ["synth-256-Q4_K_M"] = "golden/quantized/synth-256/synth-256-Q4_K_M.gguf",
        ["synth-256-Q5_K_S"] = "golden/quantized/synth-256/synth-256-Q5_K_S.gguf",
        ["synth-256-IQ4_XS"] = "golden/quantized/synth-256/synth-256-IQ4_XS.gguf",
    };

    public static string PromptText(string prompt) => File.ReadAllText(SharedData.File($"golden/text/prompts/{prompt}.txt"));

    public static int[] Ids(string folder, string file) =>
        File.ReadAllText(SharedData.File($"golden/logits/{folder}/{file}"))
            .Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToArray();

    public static float[] Floats(string folder, string file) => ReadFloats(SharedData.File($"golden/logits/{folder}/{file}"));

    /// <summary>A float32 file of the test project's own reference data (Inference/Data, see its README).</summary>
    public static float[] TestData(string file) => ReadFloats(Path.Combine(AppContext.BaseDirectory, "Inference", "Data", file));

    private static float[] ReadFloats(string path)
    {
        var bytes = File.ReadAllBytes(path);
        var values = new float[bytes.Length / sizeof(float)];
        Buffer.BlockCopy(bytes, 0, values, 0, values.Length * sizeof(float));
        return values;
    }

    public static float MaxAbsDiff(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual)
    {
        var max = 0f;
        for (var i = 0; i < expected.Length; i++)
        {
            max = Math.Max(max, Math.Abs(expected[i] - actual[i]));
        }

        return max;
    }

    public static double MeanAbsDiff(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual)
    {
        double sum = 0;
        for (var i = 0; i < expected.Length; i++)
        {
            sum += Math.Abs(expected[i] - actual[i]);
        }

        return sum / expected.Length;
    }

    public static int ArgMax(ReadOnlySpan<float> row)
    {
        var best = 0;
        for (var i = 1; i < row.Length; i++)
        {
            if (row[i] > row[best])
            {
                best = i;
            }
        }

        return best;
    }

    /// <summary>Best minus second-best logit: how near the greedy pick was to a tie.</summary>
    public static float Margin(ReadOnlySpan<float> row)
    {
        var best = ArgMax(row);
        var second = float.NegativeInfinity;
        for (var i = 0; i < row.Length; i++)
        {
            if (i != best)
            {
                second = Math.Max(second, row[i]);
            }
        }

        return row[best] - second;
    }

    /// <summary>Evaluates the prompt, then picks and feeds the argmax <paramref name="count"/> times.</summary>
    public static int[] Greedy(QuantPS.Inference.Engine.InferenceContext context, int[] prompt, int count)
    {
        var result = new int[count];
        var logits = context.Decode(prompt, TestContext.Current.CancellationToken);
        for (var i = 0; i < count; i++)
        {
            result[i] = ArgMax(logits);
            if (i + 1 < count)
            {
                logits = context.Decode(result[i], TestContext.Current.CancellationToken);
            }
        }

        return result;
    }
}
