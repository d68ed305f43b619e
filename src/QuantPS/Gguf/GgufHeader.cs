namespace QuantPS.Gguf;

/// <summary>
/// Everything a GGUF file says before its tensor data: version, metadata, tensor table and
/// where the data section lies. Independent of where the bytes came from (file, shard, HTTP).
/// </summary>
public sealed class GgufHeader
{
    internal GgufHeader(
        uint version,
        GgufMetadata metadata,
        IReadOnlyList<GgufTensorInfo> tensors,
        uint alignment,
        long headerLength,
        long dataOffset,
        long dataLength,
        long fileLength,
        IReadOnlyList<GgufFinding> findings)
    {
        Version = version;
        Metadata = metadata;
        Tensors = tensors;
        Alignment = alignment;
        HeaderLength = headerLength;
        DataOffset = dataOffset;
        DataLength = dataLength;
        FileLength = fileLength;
        Findings = findings;
    }

    public const uint DefaultAlignment = 32;

    public uint Version { get; }

    public GgufMetadata Metadata { get; }

    public IReadOnlyList<GgufTensorInfo> Tensors { get; }

    /// <summary>general.alignment, or 32 when absent.</summary>
    public uint Alignment { get; }

    /// <summary>Bytes from the start of the file to the end of the tensor table (before padding).</summary>
    public long HeaderLength { get; }

    /// <summary>Absolute offset of the data section (the header length rounded up to the alignment).</summary>
    public long DataOffset { get; }

    /// <summary>Bytes of the data section as the tensor table lays it out, padding included.</summary>
    public long DataLength { get; }

    /// <summary>Length of the file the header was read from.</summary>
    public long FileLength { get; }

    /// <summary>What the parser noticed without refusing the file (lenient parses also list errors here).</summary>
    public IReadOnlyList<GgufFinding> Findings { get; }

    /// <summary>Sum of all tensors' data bytes, without padding.</summary>
    public long TensorBytes => Tensors.Sum(t => t.SizeBytes);

    /// <summary>
    /// Parses the header of a whole GGUF file held in memory. Throws <see cref="GgufException"/>
    /// for malformed input (in lenient mode, only for problems that stop the parse).
    /// </summary>
    public static GgufHeader Parse(ReadOnlySpan<byte> file, GgufParseMode mode = GgufParseMode.Strict) =>
        GgufHeaderParser.Parse(file, mode);

    /// <summary>Absolute file offset of a tensor's first byte.</summary>
    public long AbsoluteOffset(GgufTensorInfo tensor) => DataOffset + (long)tensor.Offset;
}
