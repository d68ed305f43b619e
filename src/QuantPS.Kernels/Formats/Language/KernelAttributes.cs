namespace QuantPS.Kernels.Formats;

// The second half of a description: how a block's fields turn back into values, which activation
// format its dot product pairs with, and how an activation format is produced. The generator checks
// these against the fields (QPSG010-QPSG014) and hands each type to the kernel family that knows it.

/// <summary>The formula that rebuilds value <c>i</c> of a block from its decoded quant <c>q</c>.</summary>
public enum ValueScheme
{
    /// <summary>Plain element types: the value is the element itself (F32, F16, BF16).</summary>
    Element,

    /// <summary><c>x = d * (q + Offset)</c> (Q4_0, Q5_0, Q8_0).</summary>
    Scaled,

    /// <summary><c>x = d * (q + Offset) + m</c>, with <c>m</c> the block's <see cref="MinAttribute"/> (Q4_1, Q5_1).</summary>
    ScaledWithMin,

    /// <summary><c>x = d * codebook[q]</c>, the codebook named on the quants (IQ4_NL, MXFP4).</summary>
    Codebook,

    /// <summary>
    /// <c>x = d * s[j] * (q + Offset)</c>, with <c>s[j]</c> the <see cref="SubScalesAttribute"/> scale of the sub-block
    /// holding the value (blockSize / count values each): Q3_K, Q6_K.
    /// </summary>
    SubScaled,

    /// <summary>
    /// <c>x = d * s[j] * (q + Offset) - m * mins[j]</c>: sub-block scales and mins (<c>WithMins</c>) under a block scale
    /// and a block <see cref="MinAttribute"/> (ggml's <c>dmin</c>, subtracted): Q2_K, Q4_K, Q5_K.
    /// </summary>
    SubScaledWithMin,

    /// <summary>
    /// <c>x = d * s[j] * codebook[q]</c>: integer sub-block scales (with their Offset) under a block scale, the value a
    /// codebook entry named on the quants (IQ4_XS); or, with UE4M3 sub-scales and no block scale, <c>x = s[j] * codebook[q]</c> (NVFP4).
    /// </summary>
    SubScaledCodebook,

    /// <summary>
    /// The i-quant grids: <c>x = d * (2 s[j] + 1) * Multiplier * sign * (g + Delta * deltaSign)</c>, with <c>g</c> value
    /// <c>i % n</c> of the <c>[Grid]</c> entry an index selects, every part read by a <see cref="BitsAttribute"/>
    /// (IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S, IQ1_S, IQ1_M).
    /// </summary>
    Grid,
}

/// <summary>Which bits of a packed field belong to value <c>i</c>.</summary>
public enum QuantOrder
{
    /// <summary>Item <c>i</c> is value <c>i</c>, items packed from the lowest bit up.</summary>
    Sequential,

    /// <summary>
    /// ggml's legacy 4-bit order: byte <c>j</c> holds value <c>j</c> in its low nibble and value
    /// <c>j + count/2</c> in its high nibble.
    /// </summary>
    SplitHalves,

    /// <summary>
    /// The K-quant order of 1-, 2- and 4-bit items: bytes in runs of 32; item <c>k</c> (lowest bits first) of byte
    /// <c>l</c> in run <c>c</c> is value <c>c * 32 * (8 / bits) + 32 * k + l</c>. Q2_K/Q3_K quants, Q4_K/Q5_K nibbles,
    /// the high-bit planes of Q3_K, Q5_K and Q6_K.
    /// </summary>
    Interleaved32,

    /// <summary>As <see cref="Interleaved32"/> with runs of 64 bytes (Q6_K's low nibbles).</summary>
    Interleaved64,

    /// <summary>Sub-scales with mins: byte <c>j</c> holds scale <c>j</c> in its low <c>bits</c> and min <c>j</c> above (Q2_K).</summary>
    ScaleMinPairs,

    /// <summary>
    /// 16 sub-scales of 6 bits in 12 bytes (Q3_K): the low 4 bits of scale <c>j</c> are nibble <c>j / 8</c> of byte
    /// <c>j % 8</c>, its high 2 bits are bits <c>2 * (j / 4)</c> of byte <c>8 + j % 4</c>.
    /// </summary>
    ScalesK3,

    /// <summary>
    /// 8 sub-scales and 8 mins of 6 bits in 12 bytes (Q4_K, Q5_K; ggml's <c>get_scale_min_k4</c>): scales 0-3 and mins
    /// 0-3 are the low 6 bits of bytes 0-3 and 4-7; scale/min <c>4 + i</c> keep their low 4 bits in the low/high nibble
    /// of byte <c>8 + i</c> and their high 2 bits in the top bits of byte <c>i</c> / <c>4 + i</c>.
    /// </summary>
    ScaleMinK4,

    /// <summary>
    /// ggml's legacy nibble order in runs of 32 values (16 bytes): byte <c>l</c> of run <c>c</c> holds value
    /// <c>32 * c + l</c> in its low nibble and <c>32 * c + 16 + l</c> in its high nibble (IQ4_XS).
    /// </summary>
    SplitHalves32,

    /// <summary>As <see cref="SplitHalves32"/> in runs of 16 values (8 bytes): NVFP4.</summary>
    SplitHalves16,

    /// <summary>
    /// 8 sub-scales of 6 bits in 6 bytes (IQ4_XS): a 16-bit word of their high 2 bits (scale <c>j</c> at bits
    /// <c>2 * j</c>), then their low 4 bits, two to a byte (scale <c>j</c> in nibble <c>j % 2</c> of byte <c>2 + j / 2</c>).
    /// </summary>
    ScalesHighLow,
}

/// <summary>How an activation format is produced from floats (ggml's CPU <c>from_float</c>).</summary>
public enum QuantizerRule
{
    /// <summary>Element types: a conversion (F32 copy, F16 and BF16 round to nearest even).</summary>
    Convert,

    /// <summary>
    /// <c>d = amax / 127</c>, <c>q = round_even(x * 127 / amax)</c>, as ggml's x86 path does for Q8_0/Q8_1.
    /// A <see cref="SumAttribute"/> field receives <c>d * sum(q)</c>.
    /// </summary>
    AbsMax,

    /// <summary>
    /// Q8_K: the signed value <c>max</c> of largest magnitude (first one wins), <c>q = min(127,
    /// round_even(-127 / max * x))</c>, <c>d = 1 / (-127 / max)</c>; <see cref="GroupSumsAttribute"/> fields get per-group sums.
    /// </summary>
    SignedAbsMax,
}

/// <summary>Declares how values are rebuilt from the block's fields.</summary>
[AttributeUsage(AttributeTargets.Struct, AllowMultiple = false, Inherited = false)]
public sealed class ReconstructAttribute(ValueScheme scheme) : Attribute
{
    public ValueScheme Scheme { get; } = scheme;

    /// <summary>Added to the decoded integer quant before scaling (-8 for Q4_0, -16 for Q5_0).</summary>
    public int Offset { get; set; }

    /// <summary><see cref="ValueScheme.Grid"/>: a power of two folded into the scale (ggml's 0.25 in <c>(0.5 + s) * 0.25</c> is 0.125 of 2s + 1).</summary>
    public double Multiplier { get; set; } = 1.0;

    /// <summary><see cref="ValueScheme.Grid"/>: the shift added to every grid value, its sign read by a <see cref="BitRole.DeltaSign"/> (IQ1's 0.125); 0 for none.</summary>
    public double Delta { get; set; }
}

/// <summary>
/// The type activations are quantized to for this type's dot product (ggml's <c>vec_dot_type</c>),
/// by our enum name, e.g. <c>"Q8_0"</c>. An activation format names itself.
/// </summary>
[AttributeUsage(AttributeTargets.Struct, AllowMultiple = false, Inherited = false)]
public sealed class ActivationAttribute(string type) : Attribute
{
    public string Type { get; } = type;
}

/// <summary>Marks an activation format and says how floats are quantized to it.</summary>
[AttributeUsage(AttributeTargets.Struct, AllowMultiple = false, Inherited = false)]
public sealed class ActivationQuantizerAttribute(QuantizerRule rule) : Attribute
{
    public QuantizerRule Rule { get; } = rule;
}

/// <summary>
/// A lookup table that quants index (<c>[Quants(..., Codebook = name)]</c>). Entries are integers so
/// dot products stay in int8; <see cref="Multiplier"/> (a power of two) is folded into the block scale,
/// e.g. E2M1 stores twice each FP4 value and a multiplier of 0.5.
/// </summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = true, Inherited = false)]
public sealed class CodebookAttribute(string name, params int[] values) : Attribute
{
    public string Name { get; } = name;
    public int[] Values { get; } = values;
    public double Multiplier { get; set; } = 1.0;
}
