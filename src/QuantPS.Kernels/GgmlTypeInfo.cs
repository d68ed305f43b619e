namespace QuantPS.Kernels;

/// <summary>
/// What the engine needs to know about one live GGML tensor type. The instances come from
/// <see cref="GgmlTypeTraits"/>, which the generator emits from the block descriptions.
/// </summary>
public sealed class GgmlTypeInfo
{
    internal GgmlTypeInfo(GgmlType type, string name, string ggmlName, int blockSize, int typeSize, bool isQuantized)
    {
        Type = type;
        Name = name;
        GgmlName = ggmlName;
        BlockSize = blockSize;
        TypeSize = typeSize;
        IsQuantized = isQuantized;
        ActivationType = type;
    }

    public GgmlType Type { get; }

    /// <summary>The wire id stored in GGUF tensor infos.</summary>
    public uint Id => (uint)Type;

    /// <summary>Our enum name, e.g. <c>Q4_K</c>.</summary>
    public string Name { get; }

    /// <summary>ggml's own name (ggml_type_name), e.g. <c>q4_K</c>.</summary>
    public string GgmlName { get; }

    /// <summary>Values per block.</summary>
    public int BlockSize { get; }

    /// <summary>Bytes per block.</summary>
    public int TypeSize { get; }

    public bool IsQuantized { get; }

    /// <summary>
    /// The type activations are quantized to for <see cref="Dot"/> (ggml's vec_dot_type);
    /// activation-only types (Q8_1, Q8_K) name themselves.
    /// </summary>
    public GgmlType ActivationType { get; internal init; }

    /// <summary>Dequantizer at the widest vector width this process accelerates; null when not generated yet.</summary>
    public DequantizeRowKernel? Dequantize { get; internal init; }

    /// <summary>The scalar dequantizer, the oracle tests compare the vector paths with.</summary>
    public DequantizeRowKernel? DequantizeReference { get; internal init; }

    /// <summary>Activation quantizer (from_float), set on the activation types: F32, F16, BF16, Q8_0, Q8_1, Q8_K.</summary>
    public QuantizeRowKernel? QuantizeActivation { get; internal init; }

    /// <summary>Dot product against a row of <see cref="ActivationType"/>, widest width available.</summary>
    public DotKernel? Dot { get; internal init; }

    /// <summary>
    /// <see cref="Dot"/> against four activation rows at once (equal to four <see cref="Dot"/> calls, bit for bit);
    /// set wherever <see cref="Dot"/> is. Matrix-matrix products use it to decode each weight block once per four rows.
    /// </summary>
    public DotRowsKernel? Dot4 { get; internal init; }

    /// <summary>
    /// Whole 32-value blocks as integers and one float scale each (null for types whose blocks are not that shape);
    /// matrix-matrix products decode weight panels with it for IntegerPanelKernels.
    /// </summary>
    public DecodeIntegersKernel? DecodeIntegers { get; internal init; }

    /// <summary>The smallest integer <see cref="DecodeIntegers"/> gives (0 without it).</summary>
    public int IntegerMin { get; internal init; }

    /// <summary>The largest integer <see cref="DecodeIntegers"/> gives (0 without it).</summary>
    public int IntegerMax { get; internal init; }

    /// <summary>
    /// Super-blocks as sub-scaled int16 values (each value times its sub-block's integer scale), int16 sub-block mins
    /// and (d, dmin) per block (null for types that are not K-quants); matrix-matrix products decode weight panels with it.
    /// </summary>
    public DecodeSubScaledKernel? DecodeSubScaled { get; internal init; }

    /// <summary>Sub-block mins per block that <see cref="DecodeSubScaled"/> gives (0: the type has no mins).</summary>
    public int SubScaledMins { get; internal init; }

    /// <summary>
    /// Super-blocks as unsigned byte values with their int16 sub-scales and mins apart (null unless the type's values
    /// are unsigned with unsigned sub-scales: Q2_K, Q4_K, Q5_K); the byte super-panels decode weights with it.
    /// </summary>
    public DecodeSubBlocksKernel? DecodeSubBlocks { get; internal init; }

    /// <summary>The largest value <see cref="DecodeSubBlocks"/> gives (0 without it).</summary>
    public int SubBlockQuantMax { get; internal init; }

    /// <summary>
    /// A matrix-vector dot over an activation row rearranged once by <see cref="PrepareActivation"/> (null for most
    /// types; Q4_0 and Q8_0 have it): matrix-vector products use it, since every weight row reads the same activations.
    /// </summary>
    public DotKernel? DotPrepared { get; internal init; }

    /// <summary>Rearranges a quantized activation row for <see cref="DotPrepared"/>.</summary>
    public PrepareActivationKernel? PrepareActivation { get; internal init; }

    /// <summary>Bytes of a prepared activation row of the given number of values.</summary>
    public Func<long, long>? PreparedActivationBytes { get; internal init; }

    /// <summary>True when this type can be used as matmul weights.</summary>
    public bool HasKernels => Dequantize is not null && Dot is not null;

    /// <summary>Bytes taken by a row of <paramref name="elementsPerRow"/> values.</summary>
    /// <exception cref="ArgumentException">The count is negative or not a whole number of blocks.</exception>
    public long RowSizeBytes(long elementsPerRow)
    {
        if (elementsPerRow < 0 || elementsPerRow % BlockSize != 0)
        {
            throw new ArgumentException(
                $"{Name} stores values in blocks of {BlockSize}; a row of {elementsPerRow} values is not a whole number of blocks.",
                nameof(elementsPerRow));
        }

        return elementsPerRow / BlockSize * TypeSize;
    }

    public override string ToString() => Name;
}
