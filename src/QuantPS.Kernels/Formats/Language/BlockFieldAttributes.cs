namespace QuantPS.Kernels.Formats;

/// <summary>How one scalar is encoded on the wire.</summary>
public enum NumberFormat
{
    /// <summary>A plain integer of the packed field's width; not valid for a lone scalar.</summary>
    Integer,
    F32,
    F16,
    BF16,
    F64,
    I8,
    I16,
    I32,
    I64,
    /// <summary>A power-of-two exponent byte (OCP MX scale).</summary>
    E8M0,
    /// <summary>An unsigned 8-bit float with 4 exponent and 3 mantissa bits (NVFP4 scale).</summary>
    UE4M3,
}

/// <summary>
/// One field of a block, in wire order. The generator knows every subclass here;
/// any other subclass is reported as an unknown field kind.
/// </summary>
[AttributeUsage(AttributeTargets.Struct, AllowMultiple = true, Inherited = false)]
public abstract class BlockFieldAttribute(string name) : Attribute
{
    /// <summary>The emitted struct field's name.</summary>
    public string Name { get; } = name;
}

/// <summary>Base of fields that pack <c>count</c> items of <c>bits</c> bits each, little-endian.</summary>
public abstract class PackedFieldAttribute(string name, int bits, int count) : BlockFieldAttribute(name)
{
    public int Bits { get; } = bits;
    public int Count { get; } = count;

    /// <summary>Items are two's-complement signed (e.g. int8 quants).</summary>
    public bool Signed { get; set; }

    /// <summary>
    /// Width of the storage word (8, 16, 32 or 64); 0 picks the item width when it is
    /// 16/32/64 bits and bytes otherwise.
    /// </summary>
    public int WordBits { get; set; }

    /// <summary>Which items belong to which value (see <see cref="QuantOrder"/>): quants, high-bit planes, and how sub-scales are packed.</summary>
    public QuantOrder Order { get; set; }
}

/// <summary>The single value of a plain element type (F32, F16, I8...): block size 1.</summary>
public sealed class ElementAttribute(string name, NumberFormat format) : BlockFieldAttribute(name)
{
    public NumberFormat Format { get; } = format;
}

/// <summary>A block-wide multiplier (ggml's <c>d</c>).</summary>
public sealed class ScaleAttribute(string name, NumberFormat format) : BlockFieldAttribute(name)
{
    public NumberFormat Format { get; } = format;
}

/// <summary>A block-wide offset subtracted after scaling (ggml's <c>m</c> or <c>dmin</c>).</summary>
public sealed class MinAttribute(string name, NumberFormat format) : BlockFieldAttribute(name)
{
    public NumberFormat Format { get; } = format;
}

/// <summary>A precomputed <c>d * sum(quants)</c> kept for dot products (Q8_1's <c>s</c>).</summary>
public sealed class SumAttribute(string name, NumberFormat format) : BlockFieldAttribute(name)
{
    public NumberFormat Format { get; } = format;
}

/// <summary>The low <c>bits</c> of each of <c>count</c> quantized values.</summary>
public sealed class QuantsAttribute(string name, int bits, int count) : PackedFieldAttribute(name, bits, count)
{
    /// <summary>Name of the lookup table a quant indexes (e.g. "IQ4_NL", "E2M1"), if any.</summary>
    public string? Codebook { get; set; }
}

/// <summary>The high <c>bits</c> of <c>count</c> values whose low bits live in another field.</summary>
public sealed class HighBitsAttribute(string name, int bits, int count) : PackedFieldAttribute(name, bits, count);

/// <summary>Sub-block scales (and, with <see cref="WithMins"/>, as many mins after them).</summary>
public sealed class SubScalesAttribute(string name, int bits, int count) : PackedFieldAttribute(name, bits, count)
{
    /// <summary>The field also carries <c>count</c> sub-block mins of the same width.</summary>
    public bool WithMins { get; set; }

    /// <summary>Set when the scales are small floats rather than integers (NVFP4's UE4M3).</summary>
    public NumberFormat Format { get; set; }

    /// <summary>Added to each decoded scale (not to the mins): -32 for Q3_K's offset-binary 6-bit scales.</summary>
    public int Offset { get; set; }
}

/// <summary>Per-group sums of the quants (Q8_K's <c>bsums</c>), kept for dot products.</summary>
public sealed class GroupSumsAttribute(string name, int bits, int count) : PackedFieldAttribute(name, bits, count);

/// <summary>One sign bit for each of <c>count</c> values.</summary>
public sealed class SignsAttribute(string name, int count) : PackedFieldAttribute(name, 1, count);

/// <summary>
/// <c>count</c> indices into a lookup grid, each standing for <c>valuesPerIndex</c> values.
/// </summary>
public sealed class GridIndexAttribute(string name, int bits, int count, int valuesPerIndex) : PackedFieldAttribute(name, bits, count)
{
    public int ValuesPerIndex { get; } = valuesPerIndex;

    /// <summary>Name of the grid the indices select from (e.g. "IQ2_S").</summary>
    public string? Grid { get; set; }
}

/// <summary>Base-3 digits: <c>count</c> ternary values, <c>perByte</c> to a byte.</summary>
public sealed class TritsAttribute(string name, int count, int perByte) : BlockFieldAttribute(name)
{
    public int Count { get; } = count;
    public int PerByte { get; } = perByte;
}

/// <summary>
/// Bits whose meaning is interleaved (e.g. grid indices, signs and a scale sharing a word);
/// the layout is fixed here, the decoding is described by the kernel for that type.
/// </summary>
public sealed class PackedAttribute(string name, int bits, int count) : PackedFieldAttribute(name, bits, count);
