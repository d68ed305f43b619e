using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace QuantPS.Gguf;

/// <summary>Reading metadata key/value pairs: scalars, strings and (nested) arrays.</summary>
internal sealed unsafe partial class GgufHeaderParser
{
    private List<GgufMetadataEntry> ReadMetadata(long count)
    {
        var entries = new List<GgufMetadataEntry>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (long i = 0; i < count; i++)
        {
            var at = _pos;
            var key = ReadString(strict: true, subject: $"key #{i}");
            if (key.Length == 0)
            {
                Fail(GgufErrorKind.EmptyKey, null, $"Metadata key #{i} is empty.", at);
            }

            var type = ReadValueType(key);
            var value = ReadValue(type, key, depth: 0);
            if (!seen.Add(key))
            {
                Report(GgufErrorKind.DuplicateKey, key, $"Metadata key '{key}' appears more than once.", at);
                continue; // lenient: the first occurrence wins
            }

            entries.Add(new GgufMetadataEntry(key, type, value));
        }

        return entries;
    }

    private GgufValueType ReadValueType(string key)
    {
        var at = _pos;
        var raw = ReadUInt32();
        if (raw >= GgufValueTypes.Count)
        {
            Fail(GgufErrorKind.InvalidValueType, key, $"Key '{key}' has value type {raw}, which GGUF does not define (0..12).", at);
        }

        return (GgufValueType)raw;
    }

    private object ReadValue(GgufValueType type, string key, int depth) => type switch
    {
        GgufValueType.UInt8 => ReadBytes(1)[0],
        GgufValueType.Int8 => (sbyte)ReadBytes(1)[0],
        GgufValueType.UInt16 => BinaryPrimitives.ReadUInt16LittleEndian(ReadBytes(2)),
        GgufValueType.Int16 => BinaryPrimitives.ReadInt16LittleEndian(ReadBytes(2)),
        GgufValueType.UInt32 => ReadUInt32(),
        GgufValueType.Int32 => BinaryPrimitives.ReadInt32LittleEndian(ReadBytes(4)),
        GgufValueType.Float32 => BinaryPrimitives.ReadSingleLittleEndian(ReadBytes(4)),
        GgufValueType.Bool => ReadBytes(1)[0] != 0,
        GgufValueType.String => ReadString(strict: false, subject: key),
        GgufValueType.UInt64 => BinaryPrimitives.ReadUInt64LittleEndian(ReadBytes(8)),
        GgufValueType.Int64 => ReadInt64(),
        GgufValueType.Float64 => BinaryPrimitives.ReadDoubleLittleEndian(ReadBytes(8)),
        GgufValueType.Array => ReadArray(key, depth),
        _ => throw new InvalidOperationException("unreachable: type validated by ReadValueType"),
    };

    private GgufArray ReadArray(string key, int depth)
    {
        var at = _pos;
        if (depth >= MaxArrayNesting)
        {
            Fail(GgufErrorKind.Corrupt, key, $"Key '{key}' nests arrays more than {MaxArrayNesting} deep.", at);
        }

        var elementType = ReadValueType(key);
        var countAt = _pos;
        long count = _v1 ? ReadUInt32() : ReadInt64();
        var minimum = GgufValueTypes.MinimumWireSize(elementType, _v1);
        if (count < 0 || count > MaxArrayElements)
        {
            Fail(GgufErrorKind.LengthOutOfRange, key, $"Key '{key}' declares an array of {count} {elementType} values: over the 2^30 elements any GGUF array may have.", countAt);
        }

        if (count > Remaining / minimum)
        {
            Fail(GgufErrorKind.Truncated, key, $"Key '{key}' declares an array of {count} {elementType} values, but only {Remaining} bytes of the file are left to hold them. Is the download incomplete?", countAt);
        }

        if (elementType == GgufValueType.Array && depth == 0)
        {
            AddFinding("NestedArray", GgufSeverity.Incompatible, key, $"Key '{key}' holds nested arrays: llama.cpp refuses them.", at);
        }

        var n = (int)count;
        return elementType switch
        {
            GgufValueType.UInt8 => new GgufArray(elementType, ReadPrimitiveArray<byte>(n)),
            GgufValueType.Int8 => new GgufArray(elementType, ReadPrimitiveArray<sbyte>(n)),
            GgufValueType.UInt16 => new GgufArray(elementType, ReadPrimitiveArray<ushort>(n)),
            GgufValueType.Int16 => new GgufArray(elementType, ReadPrimitiveArray<short>(n)),
            GgufValueType.UInt32 => new GgufArray(elementType, ReadPrimitiveArray<uint>(n)),
            GgufValueType.Int32 => new GgufArray(elementType, ReadPrimitiveArray<int>(n)),
            GgufValueType.Float32 => new GgufArray(elementType, ReadPrimitiveArray<float>(n)),
            GgufValueType.UInt64 => new GgufArray(elementType, ReadPrimitiveArray<ulong>(n)),
            GgufValueType.Int64 => new GgufArray(elementType, ReadPrimitiveArray<long>(n)),
            GgufValueType.Float64 => new GgufArray(elementType, ReadPrimitiveArray<double>(n)),
            GgufValueType.Bool => new GgufArray(elementType, Array.ConvertAll(ReadPrimitiveArray<byte>(n), b => b != 0)),
            GgufValueType.String => new GgufArray(elementType, ReadStrings(n, key)),
            GgufValueType.Array => new GgufArray(elementType, ReadNestedArrays(n, key, depth)),
            _ => throw new InvalidOperationException("unreachable"),
        };
    }

    private string[] ReadStrings(int count, string key)
    {
        var items = new string[count];
        for (var i = 0; i < count; i++)
        {
            items[i] = ReadString(strict: false, subject: key);
        }

        return items;
    }

    private GgufArray[] ReadNestedArrays(int count, string key, int depth)
    {
        var items = new GgufArray[count];
        for (var i = 0; i < count; i++)
        {
            items[i] = ReadArray(key, depth + 1);
        }

        return items;
    }

    private T[] ReadPrimitiveArray<T>(int count) where T : unmanaged
    {
        var length = (long)count * sizeof(T);
        if (length > Array.MaxLength)
        {
            Fail(GgufErrorKind.LengthOutOfRange, null, $"An array of {count} {typeof(T).Name} values ({length} bytes) at offset {_pos} is larger than this reader holds in memory (2 GiB).", _pos);
        }

        // GGUF is little-endian, as is every platform .NET runs this on.
        var bytes = ReadBytes(length);
        return MemoryMarshal.Cast<byte, T>(bytes).ToArray();
    }
}
