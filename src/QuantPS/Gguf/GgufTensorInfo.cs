using QuantPS.Kernels;

namespace QuantPS.Gguf;

/// <summary>
/// One entry of a GGUF tensor table. Shape is in ggml order (ne0 first: the row length),
/// as the file stores it and as gguf tools print it.
/// </summary>
public sealed class GgufTensorInfo
{
    public GgufTensorInfo(string name, GgmlType type, IReadOnlyList<long> shape, ulong offset, int shard = 0)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(shape);
        Name = name;
        Type = type;
        TypeInfo = GgmlTypeTraits.Get(type);
        Shape = shape.ToArray();
        Offset = offset;
        Shard = shard;
        ElementCount = Shape.Aggregate(1L, (n, d) => checked(n * d));
        SizeBytes = ElementCount == 0 ? 0 : checked(TypeInfo.RowSizeBytes(RowLength) * RowCount);
    }

    public string Name { get; }

    public GgmlType Type { get; }

    public GgmlTypeInfo TypeInfo { get; }

    /// <summary>Dimensions in ggml order, as many as the file stores (n_dims).</summary>
    public IReadOnlyList<long> Shape { get; }

    public long ElementCount { get; }

    /// <summary>Bytes of tensor data, without alignment padding.</summary>
    public long SizeBytes { get; }

    /// <summary>Offset of the data from the start of its file's data section.</summary>
    public ulong Offset { get; }

    /// <summary>For split models, the index of the shard that holds the data; 0 otherwise.</summary>
    public int Shard { get; }

    /// <summary>Values per row (ne0).</summary>
    public long RowLength => Shape.Count == 0 ? 1 : Shape[0];

    /// <summary>Number of rows (product of ne1..).</summary>
    public long RowCount => RowLength == 0 ? 0 : ElementCount / RowLength;

    public override string ToString() => $"{Name} {Type} [{string.Join(", ", Shape)}]";

    internal GgufTensorInfo WithShard(int shard) => new(Name, Type, Shape, Offset, shard);
}
