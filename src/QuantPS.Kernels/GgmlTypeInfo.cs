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
