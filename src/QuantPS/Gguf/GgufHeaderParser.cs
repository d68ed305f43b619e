using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using QuantPS.Kernels;

namespace QuantPS.Gguf;

/// <summary>How strictly <see cref="GgufHeaderParser"/> treats problems it can read past.</summary>
public enum GgufParseMode
{
    /// <summary>The first error refuses the file (what every reader of a model does).</summary>
    Strict,

    /// <summary>Errors that leave the rest readable are collected as findings (Test-Gguf).</summary>
    Lenient,
}

/// <summary>Thrown when the bytes at hand end before the header does but the file goes on (remote reads grow and retry).</summary>
internal sealed class GgufNeedMoreDataException(long required) : Exception($"The header needs at least {required} bytes.")
{
    public long Required { get; } = required;
}

/// <summary>
/// Parses a GGUF header (versions 1, 2 and 3) from a window of bytes at the start of a file.
/// Every length and count is checked against the bytes the file has left before anything is
/// allocated, so a hostile file costs no more memory than its own size justifies. Performs at
/// least every check llama.cpp's gguf reader makes, each with its own error kind.
/// </summary>
internal sealed unsafe partial class GgufHeaderParser
{
    /// <summary>GGML_MAX_NAME: llama.cpp stores names in a 64-byte field with its terminator.</summary>
    public const int MaxTensorNameBytes = 63;

    /// <summary>GGML_MAX_DIMS.</summary>
    public const int MaxDimensions = 4;

    /// <summary>GGUF_MAX_STRING_LENGTH and GGUF_MAX_ARRAY_ELEMENTS of llama.cpp.</summary>
    public const long MaxStringBytes = 1L << 30;
    public const long MaxArrayElements = 1L << 30;

    /// <summary>Nested arrays deeper than this are refused: each level costs only 12 bytes, so depth must not follow file size.</summary>
    public const int MaxArrayNesting = 8;

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);
    private static readonly UTF8Encoding LenientUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: false);

    private readonly byte* _data;
    private readonly long _available;
    private readonly long _fileLength;
    private readonly GgufParseMode _mode;
    private readonly List<GgufFinding> _findings = [];
    private long _pos;
    private bool _v1;

    private GgufHeaderParser(byte* data, long available, long fileLength, GgufParseMode mode)
    {
        _data = data;
        _available = Math.Min(available, fileLength);
        _fileLength = fileLength;
        _mode = mode;
    }

    /// <summary>
    /// Parses the header found in <paramref name="available"/> bytes at <paramref name="data"/>, the
    /// start of a file of <paramref name="fileLength"/> bytes. Throws <see cref="GgufException"/> for
    /// malformed input and <see cref="GgufNeedMoreDataException"/> when the window is too short.
    /// </summary>
    public static GgufHeader Parse(byte* data, long available, long fileLength, GgufParseMode mode = GgufParseMode.Strict)
    {
        return new GgufHeaderParser(data, available, fileLength, mode).ParseHeader();
    }

    public static GgufHeader Parse(ReadOnlySpan<byte> bytes, GgufParseMode mode = GgufParseMode.Strict)
    {
        fixed (byte* p = bytes)
        {
            return Parse(p, bytes.Length, bytes.Length, mode);
        }
    }

    private long Remaining => _fileLength - _pos;

    private GgufHeader ParseHeader()
    {
        var version = ReadPreamble();
        long tensorCount = ReadCount("tensor count", MinimumTensorInfoBytes);
        long kvCount = ReadCount("metadata key/value count", MinimumKeyValueBytes);

        var entries = ReadMetadata(kvCount);
        var metadata = new GgufMetadata(entries);
        var alignment = ReadAlignment(metadata);
        var tensors = ReadTensorInfos(tensorCount);
        var headerLength = _pos;

        // llama.cpp seeks to the aligned start of data only when there are tensors.
        long dataOffset = tensors.Count > 0 ? AlignUp(_pos, alignment) : _pos;
        if (dataOffset > _fileLength)
        {
            Fail(GgufErrorKind.Truncated, null, $"The file ends at byte {_fileLength}, before its data section starts at {dataOffset}. Is the download incomplete?", _pos);
        }

        var dataLength = CheckTensorLayout(tensors, alignment, dataOffset);
        return new GgufHeader(version, metadata, tensors, alignment, headerLength, dataOffset, dataLength, _fileLength, _findings);
    }

    private uint ReadPreamble()
    {
        if (_fileLength < 4)
        {
            Fail(GgufErrorKind.Truncated, null, $"The file has {_fileLength} bytes: too short to be a GGUF file.", 0);
        }

        var magic = ReadUInt32();
        if (magic != 0x46554747) // "GGUF" read little-endian
        {
            var text = Encoding.ASCII.GetString(BitConverter.GetBytes(magic)).Replace('\0', '.');
            var hint = magic is 0x67676d6c or 0x67676d66 or 0x67676a74
                ? " This is a pre-GGUF GGML/GGJT file: convert it with llama.cpp's convert scripts first."
                : " It is not a GGUF file.";
            Fail(GgufErrorKind.InvalidMagic, null, $"Bad magic '{text}' (0x{magic:X8}); expected 'GGUF'.{hint}", 0);
        }

        var version = ReadUInt32();
        if (version == 0 || version > 3)
        {
            var why = (version & 0xFFFF) == 0 && version != 0
                ? " The file may be big-endian; only little-endian GGUF files are supported."
                : " Supported versions are 1, 2 and 3.";
            Fail(GgufErrorKind.UnsupportedVersion, null, $"GGUF version {version} is not supported.{why}", 4);
        }

        if (version == 1)
        {
            _v1 = true;
            AddFinding("GgufVersion1", GgufSeverity.Incompatible, null, "GGUF version 1 (32-bit counts): current llama.cpp refuses it. Rewrite it as version 3 (the engine's GgufWriter.Copy does, byte for byte in content).", 4);
        }

        return version;
    }

    private long MinimumKeyValueBytes => (_v1 ? 4 : 8) + 1 + 4 + 1;

    private long MinimumTensorInfoBytes => (_v1 ? 4 : 8) + 1 + 4 + 4 + 8;

    private long ReadCount(string what, long minimumBytesEach)
    {
        var at = _pos;
        long count = _v1 ? ReadUInt32() : ReadInt64();
        if (count < 0 || count > MaxArrayElements)
        {
            Fail(GgufErrorKind.LengthOutOfRange, null, $"The {what} is {count}: not a count any GGUF file holds.", at);
        }

        if (count > Remaining / minimumBytesEach)
        {
            Fail(GgufErrorKind.Truncated, null, $"The {what} is {count}, but only {Remaining} bytes of the file are left to hold them. Is the download incomplete?", at);
        }

        return count;
    }

    private uint ReadAlignment(GgufMetadata metadata)
    {
        if (!metadata.TryGetEntry("general.alignment", out var entry))
        {
            return GgufHeader.DefaultAlignment;
        }

        if (entry.Value is not uint alignment)
        {
            Fail(GgufErrorKind.InvalidAlignment, entry.Key, $"general.alignment must be a UInt32, but it is a {entry.TypeName}.", null);
            return 0;
        }

        if (alignment == 0 || (alignment & (alignment - 1)) != 0)
        {
            Fail(GgufErrorKind.InvalidAlignment, entry.Key, $"general.alignment is {alignment}, which is not a power of two.", null);
        }

        if (alignment > 1 << 20)
        {
            AddFinding("LargeAlignment", GgufSeverity.Warning, entry.Key, $"general.alignment is {alignment} bytes (over 1 MiB): padding wastes space.", null);
        }

        return alignment;
    }

    private List<GgufTensorInfo> ReadTensorInfos(long count)
    {
        var tensors = new List<GgufTensorInfo>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        for (long i = 0; i < count; i++)
        {
            var at = _pos;
            var name = ReadString(strict: true, subject: $"tensor #{i}");
            var nameBytes = Encoding.UTF8.GetByteCount(name);
            if (name.Length == 0)
            {
                Fail(GgufErrorKind.Corrupt, null, $"Tensor #{i} has an empty name.", at);
            }

            if (nameBytes > MaxTensorNameBytes)
            {
                Report(GgufErrorKind.TensorNameTooLong, name, $"Tensor #{i} has a {nameBytes}-byte name; llama.cpp allows at most {MaxTensorNameBytes}.", at);
            }

            var duplicate = !names.Add(name);
            if (duplicate)
            {
                Report(GgufErrorKind.DuplicateTensorName, name, $"Tensor name '{name}' appears more than once.", at);
            }

            var shape = ReadShape(name);
            var type = ReadTensorType(name, shape);
            var offset = ReadUInt64();
            if (!duplicate)
            {
                tensors.Add(new GgufTensorInfo(name, type, shape, offset));
            }
        }

        return tensors;
    }

    private long[] ReadShape(string name)
    {
        var at = _pos;
        var dims = ReadUInt32();
        if (dims > MaxDimensions)
        {
            Fail(GgufErrorKind.TooManyDimensions, name, $"Tensor '{name}' has {dims} dimensions; at most {MaxDimensions} are allowed.", at);
        }

        var shape = new long[dims];
        for (var d = 0; d < dims; d++)
        {
            var dimAt = _pos;
            shape[d] = _v1 ? ReadUInt32() : ReadInt64();
            if (shape[d] < 0)
            {
                Fail(GgufErrorKind.NegativeDimension, name, $"Tensor '{name}' dimension {d} is {shape[d]}.", dimAt);
            }
        }

        long elements = 1;
        foreach (var extent in shape)
        {
            if (extent != 0 && elements > long.MaxValue / extent)
            {
                Fail(GgufErrorKind.ElementCountOverflow, name, $"Tensor '{name}' with shape [{string.Join(", ", shape)}] has more elements than a 64-bit count holds.", at);
            }

            elements *= extent;
        }

        return shape;
    }

    private GgmlType ReadTensorType(string name, long[] shape)
    {
        var at = _pos;
        var id = ReadUInt32();
        if (!GgmlTypeTraits.TryGet(id, out var info))
        {
            var why = GgmlTypeTraits.TryGetRetiredName(id, out var retired)
                ? $"type {id} ({retired}) was removed from GGUF; convert the model again with a current llama.cpp."
                : $"type id {id} is not a ggml type this version knows (0..{GgmlTypeTraits.MaxId}).";
            Fail(GgufErrorKind.UnknownTensorType, name, $"Tensor '{name}': {why}", at);
        }

        var rowLength = shape.Length == 0 ? 1 : shape[0];
        if (rowLength % info!.BlockSize != 0)
        {
            Fail(GgufErrorKind.RowNotBlockMultiple, name, $"Tensor '{name}' of type {info.Name} has rows of {rowLength} values, not a multiple of its block size {info.BlockSize}.", at);
        }

        long elements = shape.Aggregate(1L, (n, d) => n * d);
        if (elements / info.BlockSize > long.MaxValue / info.TypeSize)
        {
            Fail(GgufErrorKind.TensorSizeOverflow, name, $"Tensor '{name}' would take more bytes than a 64-bit size holds.", at);
        }

        return info.Type;
    }

    /// <summary>llama.cpp requires tensor data in table order, each padded to the alignment, within the file.</summary>
    private long CheckTensorLayout(List<GgufTensorInfo> tensors, uint alignment, long dataOffset)
    {
        long expected = 0;
        foreach (var tensor in tensors)
        {
            var offset = tensor.Offset;
            if (offset != (ulong)expected)
            {
                var (kind, what) = offset % alignment != 0
                    ? (GgufErrorKind.TensorMisaligned, $"not a multiple of the alignment {alignment}")
                    : offset < (ulong)expected
                        ? (GgufErrorKind.TensorOverlap, $"inside the data of the tensor before it (which ends at {expected})")
                        : (GgufErrorKind.TensorGap, $"past where the tensor before it ends ({expected}); llama.cpp requires tensors packed in order");
                Report(kind, tensor.Name, $"Tensor '{tensor.Name}' has data offset {offset}: {what}.", null);
            }

            var start = Math.Max((ulong)expected, offset);
            var available = (ulong)(_fileLength - dataOffset);
            if (start > available || (ulong)tensor.SizeBytes > available - start)
            {
                // Packed as llama.cpp requires, the table itself is consistent: the file is shorter than it says.
                var truncated = offset == (ulong)expected;
                Fail(truncated ? GgufErrorKind.Truncated : GgufErrorKind.TensorOutOfBounds, tensor.Name,
                    $"Tensor '{tensor.Name}' needs bytes {dataOffset + (decimal)offset}..{dataOffset + (decimal)offset + tensor.SizeBytes} but the file ends at {_fileLength}." +
                    (truncated ? " Is the download incomplete?" : string.Empty), null);
            }

            var padded = AlignUp(tensor.SizeBytes, alignment);
            expected = checked((long)start + padded);
        }

        return expected;
    }

    private static long AlignUp(long value, uint alignment) => (value + alignment - 1) / alignment * alignment;

    private string ReadString(bool strict, string subject)
    {
        var at = _pos;
        long length = _v1 ? ReadUInt32() : ReadInt64();
        if (length < 0 || length > MaxStringBytes)
        {
            Fail(GgufErrorKind.LengthOutOfRange, subject, $"A string of {length} bytes at offset {at} ({subject}): over the 1 GiB any GGUF string may have.", at);
        }

        if (length > Remaining)
        {
            Fail(GgufErrorKind.Truncated, subject, $"A string of {length} bytes at offset {at} ({subject}) runs past the end of the file ({Remaining} bytes left). Is the download incomplete?", at);
        }

        if (length > 64L << 20)
        {
            AddFinding("LargeString", GgufSeverity.Warning, subject, $"A {length >> 20} MiB string ({subject}).", at);
        }

        var bytes = ReadBytes(length);
        try
        {
            return StrictUtf8.GetString(bytes);
        }
        catch (DecoderFallbackException)
        {
            if (strict)
            {
                Fail(GgufErrorKind.InvalidUtf8, subject, $"The string at offset {at} ({subject}) is not valid UTF-8.", at);
            }

            AddFinding("InvalidUtf8Value", GgufSeverity.Warning, subject, $"The string at offset {at} is not valid UTF-8; invalid bytes read as U+FFFD.", at);
            return LenientUtf8.GetString(bytes);
        }
    }

    private uint ReadUInt32() => BinaryPrimitives.ReadUInt32LittleEndian(ReadBytes(4));

    private ulong ReadUInt64() => BinaryPrimitives.ReadUInt64LittleEndian(ReadBytes(8));

    private long ReadInt64() => BinaryPrimitives.ReadInt64LittleEndian(ReadBytes(8));

    /// <summary>The next <paramref name="count"/> bytes; the caller has checked lengths against the file already.</summary>
    private ReadOnlySpan<byte> ReadBytes(long count)
    {
        if (count > Remaining)
        {
            Fail(GgufErrorKind.Truncated, null, $"The file ends at byte {_fileLength}, inside its header (reading {count} bytes at {_pos}). Is the download incomplete?", _pos);
        }

        if (_pos + count > _available)
        {
            throw new GgufNeedMoreDataException(_pos + count);
        }

        var span = new ReadOnlySpan<byte>(_data + _pos, checked((int)count));
        _pos += count;
        return span;
    }

    /// <summary>A problem the parse can continue past: refused in strict mode, collected in lenient mode.</summary>
    private void Report(GgufErrorKind kind, string? subject, string message, long? offset)
    {
        if (_mode == GgufParseMode.Strict)
        {
            throw new GgufException(kind, message, offset: offset, subject: subject);
        }

        _findings.Add(new GgufFinding(kind.ToString(), GgufSeverity.Error, subject, message, offset));
    }

    private void AddFinding(string check, GgufSeverity severity, string? subject, string message, long? offset) =>
        _findings.Add(new GgufFinding(check, severity, subject, message, offset));

    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    private static void Fail(GgufErrorKind kind, string? subject, string message, long? offset) =>
        throw new GgufException(kind, message, offset: offset, subject: subject);
}
