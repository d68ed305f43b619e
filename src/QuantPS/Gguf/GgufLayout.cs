using System.Buffers.Binary;
using System.Text;
using QuantPS.Kernels;

namespace QuantPS.Gguf;

/// <summary>A tensor to be written: name, type and shape in ggml order.</summary>
public sealed record GgufTensorSpec(string Name, GgmlType Type, IReadOnlyList<long> Shape)
{
    public static GgufTensorSpec From(GgufTensorInfo tensor) => new(tensor.Name, tensor.Type, tensor.Shape);
}

/// <summary>
/// The exact layout of a GGUF v3 file before any byte is written: the serialized header,
/// every tensor's offset, and the total length (so a plan can predict the output size).
/// </summary>
public sealed class GgufWritePlan
{
    internal GgufWritePlan(byte[] header, IReadOnlyList<GgufTensorInfo> tensors, uint alignment, long dataOffset, long fileLength)
    {
        Header = header;
        Tensors = tensors;
        Alignment = alignment;
        DataOffset = dataOffset;
        FileLength = fileLength;
    }

    /// <summary>Magic through the tensor table, unpadded.</summary>
    public byte[] Header { get; }

    public IReadOnlyList<GgufTensorInfo> Tensors { get; }

    public uint Alignment { get; }

    public long DataOffset { get; }

    /// <summary>The length the file will have: header, padding, then every tensor padded to the alignment.</summary>
    public long FileLength { get; }
}

/// <summary>Serializes GGUF version 3 headers the way llama.cpp and gguf-py lay them out.</summary>
public static class GgufLayout
{
    public const uint Version = 3;

    /// <summary>
    /// Plans a file: tensors are packed in the given order, each starting at a multiple of the
    /// alignment (general.alignment when present, else 32), with zero padding in between and
    /// after the last one.
    /// </summary>
    public static GgufWritePlan Plan(IReadOnlyList<GgufMetadataEntry> metadata, IReadOnlyList<GgufTensorSpec> tensors)
    {
        ArgumentNullException.ThrowIfNull(metadata);
        ArgumentNullException.ThrowIfNull(tensors);
        var alignment = AlignmentOf(metadata);
        CheckUnique(metadata.Select(m => m.Key), "metadata key");
        CheckUnique(tensors.Select(t => t.Name), "tensor name");

        var infos = new List<GgufTensorInfo>(tensors.Count);
        long offset = 0;
        foreach (var spec in tensors)
        {
            var rowLength = spec.Shape.Count == 0 ? 1 : spec.Shape[0];
            var blockSize = GgmlTypeTraits.Get(spec.Type).BlockSize;
            if (rowLength % blockSize != 0)
            {
                throw new GgufException(GgufErrorKind.InvalidArgument,
                    $"Tensor '{spec.Name}': rows of {rowLength} values are not a multiple of {spec.Type}'s block size {blockSize}.", subject: spec.Name);
            }

            if (Encoding.UTF8.GetByteCount(spec.Name) > GgufHeaderParser.MaxTensorNameBytes || spec.Shape.Count > GgufHeaderParser.MaxDimensions)
            {
                throw new GgufException(GgufErrorKind.InvalidArgument,
                    $"Tensor '{spec.Name}': names are limited to {GgufHeaderParser.MaxTensorNameBytes} bytes and shapes to {GgufHeaderParser.MaxDimensions} dimensions.", subject: spec.Name);
            }

            var info = new GgufTensorInfo(spec.Name, spec.Type, spec.Shape, (ulong)offset);
            infos.Add(info);
            offset = checked(offset + AlignUp(info.SizeBytes, alignment));
        }

        var header = SerializeHeader(metadata, infos);
        // With no tensors there is no data section to align (gguf-py writes no padding then).
        var dataOffset = infos.Count > 0 ? AlignUp(header.Length, alignment) : header.Length;
        return new GgufWritePlan(header, infos, alignment, dataOffset, dataOffset + offset);
    }

    internal static long AlignUp(long value, uint alignment) => (value + alignment - 1) / alignment * alignment;

    private static uint AlignmentOf(IReadOnlyList<GgufMetadataEntry> metadata)
    {
        var entry = metadata.FirstOrDefault(m => m.Key == "general.alignment");
        if (entry is null)
        {
            return GgufHeader.DefaultAlignment;
        }

        if (entry.Value is not uint alignment || alignment == 0 || (alignment & (alignment - 1)) != 0)
        {
            throw new GgufException(GgufErrorKind.InvalidAlignment, $"general.alignment must be a UInt32 power of two, not {entry}.");
        }

        return alignment;
    }

    private static void CheckUnique(IEnumerable<string> names, string what)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var name in names)
        {
            if (!seen.Add(name))
            {
                throw new GgufException(GgufErrorKind.InvalidArgument, $"Duplicate {what} '{name}'.", subject: name);
            }
        }
    }

    private static byte[] SerializeHeader(IReadOnlyList<GgufMetadataEntry> metadata, IReadOnlyList<GgufTensorInfo> tensors)
    {
        var buffer = new MemoryStream();
        var w = new HeaderWriter(buffer);
        w.U32(0x46554747); // "GGUF"
        w.U32(Version);
        w.I64(tensors.Count);
        w.I64(metadata.Count);
        foreach (var entry in metadata)
        {
            w.Str(entry.Key);
            w.U32((uint)entry.Type);
            w.Value(entry.Type, entry.Value);
        }

        foreach (var tensor in tensors)
        {
            w.Str(tensor.Name);
            w.U32((uint)tensor.Shape.Count);
            foreach (var extent in tensor.Shape)
            {
                w.I64(extent);
            }

            w.U32((uint)tensor.Type);
            w.U64(tensor.Offset);
        }

        return buffer.ToArray();
    }

    private sealed class HeaderWriter(Stream stream)
    {
        private readonly byte[] _scratch = new byte[8];

        public void U32(uint v)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(_scratch, v);
            stream.Write(_scratch, 0, 4);
        }

        public void U64(ulong v)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(_scratch, v);
            stream.Write(_scratch, 0, 8);
        }

        public void I64(long v) => U64((ulong)v);

        public void Str(string s)
        {
            var bytes = Encoding.UTF8.GetBytes(s);
            U64((ulong)bytes.Length);
            stream.Write(bytes);
        }

        public void Value(GgufValueType type, object value)
        {
            switch (type)
            {
                case GgufValueType.UInt8: stream.WriteByte((byte)value); break;
                case GgufValueType.Int8: stream.WriteByte(unchecked((byte)(sbyte)value)); break;
                case GgufValueType.UInt16: BinaryPrimitives.WriteUInt16LittleEndian(_scratch, (ushort)value); stream.Write(_scratch, 0, 2); break;
                case GgufValueType.Int16: BinaryPrimitives.WriteInt16LittleEndian(_scratch, (short)value); stream.Write(_scratch, 0, 2); break;
                case GgufValueType.UInt32: U32((uint)value); break;
                case GgufValueType.Int32: U32(unchecked((uint)(int)value)); break;
                case GgufValueType.Float32: U32(BitConverter.SingleToUInt32Bits((float)value)); break;
                case GgufValueType.Bool: stream.WriteByte((bool)value ? (byte)1 : (byte)0); break;
                case GgufValueType.String: Str((string)value); break;
                case GgufValueType.UInt64: U64((ulong)value); break;
                case GgufValueType.Int64: I64((long)value); break;
                case GgufValueType.Float64: U64(BitConverter.DoubleToUInt64Bits((double)value)); break;
                case GgufValueType.Array:
                    var array = (GgufArray)value;
                    U32((uint)array.ElementType);
                    U64((ulong)array.Count);
                    foreach (var item in array.Items)
                    {
                        Value(array.ElementType, item!);
                    }

                    break;
                default:
                    throw new ArgumentOutOfRangeException(nameof(type));
            }
        }
    }
}
