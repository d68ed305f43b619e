using QuantPS.Kernels;

namespace QuantPS.Quantization.Job;

/// <summary>
/// A target of llama-quantize: the name it takes on the command line (Q4_K_M, the aliases Q3_K,
/// Q4_K, Q5_K, COPY), the general.file_type it records and the default tensor type of the mix.
/// </summary>
public sealed class QuantizeFileType
{
    private QuantizeFileType(string name, uint id, GgmlType defaultType, string description)
    {
        Name = name;
        Id = id;
        DefaultType = defaultType;
        Description = description;
    }

    /// <summary>The name as llama-quantize spells it.</summary>
    public string Name { get; }

    /// <summary>The llama_ftype value written to general.file_type.</summary>
    public uint Id { get; }

    /// <summary>The tensor type most weights get before the per-tensor rules.</summary>
    public GgmlType DefaultType { get; }

    public string Description { get; }

    /// <summary>COPY: tensors are copied as they are, no quantization.</summary>
    public bool IsCopy => Name == "COPY";

    public override string ToString() => Name;

    // llama-quantize's list, in its order; aliases map to the mix they name.
    private static readonly QuantizeFileType[] Table =
    {
        new("Q1_0", 40, GgmlType.Q1_0, "1.125 bpw quantization"),
        new("Q2_0", 41, GgmlType.Q2_0, "2.25 bpw quantization (group 64)"),
        new("Q4_0", 2, GgmlType.Q4_0, "4.34G, +0.4685 ppl @ Llama-3-8B"),
        new("Q4_1", 3, GgmlType.Q4_1, "4.78G, +0.4511 ppl @ Llama-3-8B"),
        new("MXFP4_MOE", 38, GgmlType.MXFP4, "MXFP4 MoE"),
        new("Q5_0", 8, GgmlType.Q5_0, "5.21G, +0.1316 ppl @ Llama-3-8B"),
        new("Q5_1", 9, GgmlType.Q5_1, "5.65G, +0.1062 ppl @ Llama-3-8B"),
        new("IQ2_XXS", 19, GgmlType.IQ2_XXS, "2.06 bpw quantization"),
        new("IQ2_XS", 20, GgmlType.IQ2_XS, "2.31 bpw quantization"),
        new("IQ2_S", 28, GgmlType.IQ2_XS, "2.5 bpw quantization"),
        new("IQ2_M", 29, GgmlType.IQ2_S, "2.7 bpw quantization"),
        new("IQ1_S", 24, GgmlType.IQ1_S, "1.56 bpw quantization"),
        new("IQ1_M", 31, GgmlType.IQ1_M, "1.75 bpw quantization"),
        new("TQ1_0", 36, GgmlType.TQ1_0, "1.69 bpw ternarization"),
        new("TQ2_0", 37, GgmlType.TQ2_0, "2.06 bpw ternarization"),
        new("Q2_K", 10, GgmlType.Q2_K, "2.96G, +3.5199 ppl @ Llama-3-8B"),
        new("Q2_K_S", 21, GgmlType.Q2_K, "2.96G, +3.1836 ppl @ Llama-3-8B"),
        new("IQ3_XXS", 23, GgmlType.IQ3_XXS, "3.06 bpw quantization"),
        new("IQ3_S", 26, GgmlType.IQ3_S, "3.44 bpw quantization"),
        new("IQ3_M", 27, GgmlType.IQ3_S, "3.66 bpw quantization mix"),
        new("Q3_K", 12, GgmlType.Q3_K, "alias for Q3_K_M"),
        new("IQ3_XS", 22, GgmlType.IQ3_S, "3.3 bpw quantization"),
        new("Q3_K_S", 11, GgmlType.Q3_K, "3.41G, +1.6321 ppl @ Llama-3-8B"),
        new("Q3_K_M", 12, GgmlType.Q3_K, "3.74G, +0.6569 ppl @ Llama-3-8B"),
        new("Q3_K_L", 13, GgmlType.Q3_K, "4.03G, +0.5562 ppl @ Llama-3-8B"),
        new("IQ4_NL", 25, GgmlType.IQ4_NL, "4.50 bpw non-linear quantization"),
        new("IQ4_XS", 30, GgmlType.IQ4_XS, "4.25 bpw non-linear quantization"),
        new("Q4_K", 15, GgmlType.Q4_K, "alias for Q4_K_M"),
        new("Q4_K_S", 14, GgmlType.Q4_K, "4.37G, +0.2689 ppl @ Llama-3-8B"),
        new("Q4_K_M", 15, GgmlType.Q4_K, "4.58G, +0.1754 ppl @ Llama-3-8B"),
        new("Q5_K", 17, GgmlType.Q5_K, "alias for Q5_K_M"),
        new("Q5_K_S", 16, GgmlType.Q5_K, "5.21G, +0.1049 ppl @ Llama-3-8B"),
        new("Q5_K_M", 17, GgmlType.Q5_K, "5.33G, +0.0569 ppl @ Llama-3-8B"),
        new("Q6_K", 18, GgmlType.Q6_K, "6.14G, +0.0217 ppl @ Llama-3-8B"),
        new("Q8_0", 7, GgmlType.Q8_0, "7.96G, +0.0026 ppl @ Llama-3-8B"),
        new("F16", 1, GgmlType.F16, "14.00G, +0.0020 ppl @ Mistral-7B"),
        new("BF16", 32, GgmlType.BF16, "14.00G, -0.0050 ppl @ Mistral-7B"),
        new("F32", 0, GgmlType.F32, "26.00G @ 7B"),
        new("COPY", 0, GgmlType.F32, "only copy tensors, no quantizing"),
    };

    /// <summary>Every name llama-quantize accepts, in its order.</summary>
    public static IReadOnlyList<QuantizeFileType> All { get; } = Array.AsReadOnly(Table);

    /// <summary>The names, for tab completion and validation.</summary>
    public static IReadOnlyList<string> Names { get; } = Table.Select(t => t.Name).ToArray();

    /// <summary>Finds a type by name, ignoring case.</summary>
    public static bool TryParse(string? name, out QuantizeFileType type)
    {
        type = Table.FirstOrDefault(t => string.Equals(t.Name, name?.Trim(), StringComparison.OrdinalIgnoreCase))!;
        return type is not null;
    }

    /// <exception cref="QuantizationException">Unknown name (QuantizeErrorIds.UnknownType).</exception>
    public static QuantizeFileType Parse(string name) => TryParse(name, out var t)
        ? t
        : throw new QuantizationException(QuantizeErrorIds.UnknownType,
            $"'{name}' is not a quantization type. Use one of: {string.Join(", ", Names)}.");
}

/// <summary>Stable ids for whole-model quantization failures; cmdlets use them as ErrorRecord ids.</summary>
public static class QuantizeErrorIds
{
    public const string UnknownType = "QuantizeUnknownType";
    public const string NoFallback = "QuantizeNoTypeFallback";
    public const string ImportanceRequired = QuantizationErrorIds.ImportanceRequired;
    public const string TypeNotSupported = QuantizationErrorIds.TypeNotSupported;
    public const string RequantizeDisabled = "QuantizeRequantizeDisabled";
    public const string NotQuantizable = "QuantizeInputNotQuantizable";
    public const string SameFile = "QuantizeOutputIsInput";
    public const string BadOverride = "QuantizeBadOverride";
    public const string VerifyFailed = "QuantizeVerifyFailed";
    public const string BadPruneLayers = "QuantizeBadPruneLayers";
    public const string SplitShardEmpty = "QuantizeSplitShardEmpty";
}
