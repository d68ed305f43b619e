namespace QuantPS.Kernels.Formats;

// The i-quant half of the language. ggml packs grid indices, sign patterns, sub-scales and even the
// block scale into shared words; rather than one field order per type, each part names the bits it is
// read from: item n of a part is `bits` bits at bit Start + (n / Run) * RunStep + (n % Run) * Step of
// its field (little-endian, bit 0 = lowest bit of the field's first byte).

/// <summary>What one <see cref="BitsAttribute"/> reads.</summary>
public enum BitRole
{
    /// <summary>Bits of grid index n (values <c>n * entry .. </c>); several stack, the first declared lowest.</summary>
    GridIndex,

    /// <summary>A pattern of sign bits for 8 values, looked up in the <see cref="BitsAttribute.Table"/> (ggml's <c>ksigns_iq2xs</c>); bit j negates value j.</summary>
    SignPattern,

    /// <summary>One sign bit per value: set negates it.</summary>
    SignBits,

    /// <summary>Integer sub-scale s of each <see cref="BitsAttribute.Per"/> values; the value's scale is <c>2 s + 1</c>.</summary>
    SubScale,

    /// <summary>Sign of the <see cref="ReconstructAttribute.Delta"/> of each <see cref="BitsAttribute.Per"/> values: set subtracts it.</summary>
    DeltaSign,

    /// <summary>Bits of the F16 block scale, lowest first, where there is no <see cref="ScaleAttribute"/> (IQ1_M).</summary>
    ScaleBits,
}

/// <summary>One part of a grid block, read from <paramref name="field"/>: see <see cref="BitRole"/>.</summary>
[AttributeUsage(AttributeTargets.Struct, AllowMultiple = true, Inherited = false)]
public sealed class BitsAttribute(BitRole role, string field, int bits) : Attribute
{
    public BitRole Role { get; } = role;

    public string Field { get; } = field;

    public int Bits { get; } = bits;

    /// <summary>Bit of the field where item 0 starts.</summary>
    public int Start { get; set; }

    /// <summary>Bits from item n to item n + 1 within a run; 0 means <see cref="Bits"/>.</summary>
    public int Step { get; set; }

    /// <summary>Items per run; 0 means one run.</summary>
    public int Run { get; set; }

    /// <summary>Bits from one run to the next.</summary>
    public int RunStep { get; set; }

    /// <summary>Values each item covers, for <see cref="BitRole.SubScale"/> and <see cref="BitRole.DeltaSign"/>.</summary>
    public int Per { get; set; }

    /// <summary>The <c>[Grid]</c> of 8-bit sign masks a <see cref="BitRole.SignPattern"/> selects from.</summary>
    public string? Table { get; set; }
}

/// <summary>
/// A lookup grid that <c>[GridIndex(..., Grid = name)]</c> indices select from: entry e holds <paramref name="valuesPerEntry"/>
/// byte values, value j in byte j (ggml's uint64/uint32 grid words, copied as they are). A table of 8-bit sign masks is a
/// grid of one value per entry.
/// </summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = true, Inherited = false)]
public sealed class GridAttribute(string name, int valuesPerEntry, params ulong[] entries) : Attribute
{
    public string Name { get; } = name;

    public int ValuesPerEntry { get; } = valuesPerEntry;

    public ulong[] Entries { get; } = entries;

    /// <summary>The bytes are two's-complement values (IQ1's -1, 0, 1).</summary>
    public bool Signed { get; set; }
}
