using QuantPS.Kernels;

namespace QuantPS.Gguf;

/// <summary>
/// llama.cpp's model file types (llama_ftype, stored as general.file_type): the short name
/// llama-quantize takes (Q4_K_M) and the description llama.cpp prints ("Q4_K - Medium").
/// </summary>
public static class LlamaFileTypes
{
    private static readonly Dictionary<uint, (string Name, string Description)> ById = new()
    {
        [0] = ("F32", "all F32"),
        [1] = ("F16", "F16"),
        [2] = ("Q4_0", "Q4_0"),
        [3] = ("Q4_1", "Q4_1"),
        [4] = ("Q4_1_SOME_F16", "Q4_1, some F16 (removed)"),
        [7] = ("Q8_0", "Q8_0"),
        [8] = ("Q5_0", "Q5_0"),
        [9] = ("Q5_1", "Q5_1"),
        [10] = ("Q2_K", "Q2_K - Medium"),
        [11] = ("Q3_K_S", "Q3_K - Small"),
        [12] = ("Q3_K_M", "Q3_K - Medium"),
        [13] = ("Q3_K_L", "Q3_K - Large"),
        [14] = ("Q4_K_S", "Q4_K - Small"),
        [15] = ("Q4_K_M", "Q4_K - Medium"),
        [16] = ("Q5_K_S", "Q5_K - Small"),
        [17] = ("Q5_K_M", "Q5_K - Medium"),
        [18] = ("Q6_K", "Q6_K"),
        [19] = ("IQ2_XXS", "IQ2_XXS - 2.0625 bpw"),
        [20] = ("IQ2_XS", "IQ2_XS - 2.3125 bpw"),
        [21] = ("Q2_K_S", "Q2_K - Small"),
        [22] = ("IQ3_XS", "IQ3_XS - 3.3 bpw"),
        [23] = ("IQ3_XXS", "IQ3_XXS - 3.0625 bpw"),
        [24] = ("IQ1_S", "IQ1_S - 1.5625 bpw"),
        [25] = ("IQ4_NL", "IQ4_NL - 4.5 bpw"),
        [26] = ("IQ3_S", "IQ3_S - 3.4375 bpw"),
        [27] = ("IQ3_M", "IQ3_S mix - 3.66 bpw"),
        [28] = ("IQ2_S", "IQ2_S - 2.5 bpw"),
        [29] = ("IQ2_M", "IQ2_M - 2.7 bpw"),
        [30] = ("IQ4_XS", "IQ4_XS - 4.25 bpw"),
        [31] = ("IQ1_M", "IQ1_M - 1.75 bpw"),
        [32] = ("BF16", "BF16"),
        [33] = ("Q4_0_4_4", "Q4_0_4_4 (removed)"),
        [34] = ("Q4_0_4_8", "Q4_0_4_8 (removed)"),
        [35] = ("Q4_0_8_8", "Q4_0_8_8 (removed)"),
        [36] = ("TQ1_0", "TQ1_0 - 1.69 bpw ternary"),
        [37] = ("TQ2_0", "TQ2_0 - 2.06 bpw ternary"),
        [38] = ("MXFP4_MOE", "MXFP4 MoE"),
        [39] = ("NVFP4", "NVFP4"),
        [40] = ("Q1_0", "Q1_0"),
        [41] = ("Q2_0", "Q2_0"),
    };

    /// <summary>The file type llama.cpp guesses from the most common tensor type (llama-model-loader).</summary>
    private static readonly Dictionary<GgmlType, uint> GuessFromTensorType = new()
    {
        [GgmlType.F32] = 0, [GgmlType.F16] = 1, [GgmlType.BF16] = 32,
        [GgmlType.Q4_0] = 2, [GgmlType.Q4_1] = 3, [GgmlType.Q5_0] = 8, [GgmlType.Q5_1] = 9, [GgmlType.Q8_0] = 7,
        [GgmlType.Q2_K] = 10, [GgmlType.Q3_K] = 12, [GgmlType.Q4_K] = 15, [GgmlType.Q5_K] = 17, [GgmlType.Q6_K] = 18,
        [GgmlType.TQ1_0] = 36, [GgmlType.TQ2_0] = 37,
        [GgmlType.IQ2_XXS] = 19, [GgmlType.IQ2_XS] = 20, [GgmlType.IQ2_S] = 28, [GgmlType.IQ3_XXS] = 23,
        [GgmlType.IQ1_S] = 24, [GgmlType.IQ1_M] = 31, [GgmlType.IQ4_NL] = 25, [GgmlType.IQ4_XS] = 30, [GgmlType.IQ3_S] = 26,
        [GgmlType.NVFP4] = 39, [GgmlType.Q1_0] = 40, [GgmlType.Q2_0] = 41,
    };

    /// <summary>Short name of a general.file_type value, e.g. 15 → "Q4_K_M"; null when unknown.</summary>
    public static string? NameOf(uint fileType) => ById.TryGetValue(fileType, out var t) ? t.Name : null;

    /// <summary>llama.cpp's description of a general.file_type value, e.g. 15 → "Q4_K - Medium".</summary>
    public static string DescriptionOf(uint fileType) =>
        ById.TryGetValue(fileType, out var t) ? t.Description : "unknown, may not work";

    /// <summary>
    /// The file type as llama.cpp determines it: general.file_type when present, else a guess
    /// from the tensor type used by most tensors (ties go to the first in name order).
    /// </summary>
    public static (uint FileType, bool Guessed) Determine(GgufMetadata metadata, IEnumerable<GgufTensorInfo> tensors)
    {
        if (metadata.GetInteger("general.file_type") is { } stored and >= 0 and <= uint.MaxValue)
        {
            return ((uint)stored, false);
        }

        var counts = new Dictionary<GgmlType, int>();
        var best = GgmlType.F32;
        var bestCount = 0;
        foreach (var tensor in tensors.OrderBy(t => t.Name, StringComparer.Ordinal))
        {
            var n = counts[tensor.Type] = counts.GetValueOrDefault(tensor.Type) + 1;
            if (n > bestCount)
            {
                bestCount = n;
                best = tensor.Type;
            }
        }

        return (GuessFromTensorType.GetValueOrDefault(best, 0u), true);
    }
}
