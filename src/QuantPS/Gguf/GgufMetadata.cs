using System.Collections;
using System.Diagnostics.CodeAnalysis;

namespace QuantPS.Gguf;

/// <summary>One metadata key/value pair, with the wire type it was (or will be) stored as.</summary>
public sealed class GgufMetadataEntry
{
    public GgufMetadataEntry(string key, GgufValueType type, object value)
    {
        ArgumentException.ThrowIfNullOrEmpty(key);
        ArgumentNullException.ThrowIfNull(value);
        var expected = GgufValueTypes.ClrType(type);
        if (value.GetType() != expected)
        {
            throw new ArgumentException($"Key '{key}': a {type} value must be a {expected.Name}, not {value.GetType().Name}.", nameof(value));
        }

        Key = key;
        Type = type;
        Value = value;
    }

    public string Key { get; }

    public GgufValueType Type { get; }

    /// <summary>byte, sbyte, ushort, short, uint, int, float, bool, string, ulong, long, double or <see cref="GgufArray"/>.</summary>
    public object Value { get; }

    /// <summary>For arrays, the element type; otherwise null.</summary>
    public GgufValueType? ElementType => (Value as GgufArray)?.ElementType;

    /// <summary>"UInt32", or "Array[String]" for arrays.</summary>
    public string TypeName => Value is GgufArray a ? $"Array[{a.ElementType}]" : Type.ToString();

    public override string ToString() => $"{Key} = {GgufValueFormatter.Format(Value)}";

    /// <summary>Convenience constructors that pick the wire type from the .NET type.</summary>
    public static GgufMetadataEntry Of(string key, object value) => new(key, WireTypeOf(value), value);

    private static GgufValueType WireTypeOf(object value) => value switch
    {
        byte => GgufValueType.UInt8,
        sbyte => GgufValueType.Int8,
        ushort => GgufValueType.UInt16,
        short => GgufValueType.Int16,
        uint => GgufValueType.UInt32,
        int => GgufValueType.Int32,
        float => GgufValueType.Float32,
        bool => GgufValueType.Bool,
        string => GgufValueType.String,
        GgufArray => GgufValueType.Array,
        ulong => GgufValueType.UInt64,
        long => GgufValueType.Int64,
        double => GgufValueType.Float64,
        _ => throw new ArgumentException($"{value.GetType().Name} is not a GGUF value type.", nameof(value)),
    };
}

/// <summary>The metadata of a GGUF file in file order, with lookup by key and typed getters.</summary>
public sealed class GgufMetadata : IReadOnlyList<GgufMetadataEntry>
{
    private readonly List<GgufMetadataEntry> _entries;
    private readonly Dictionary<string, GgufMetadataEntry> _byKey;

    public GgufMetadata(IEnumerable<GgufMetadataEntry> entries)
    {
        _entries = entries.ToList();
        _byKey = new Dictionary<string, GgufMetadataEntry>(StringComparer.Ordinal);
        foreach (var entry in _entries)
        {
            if (!_byKey.TryAdd(entry.Key, entry))
            {
                throw new ArgumentException($"Duplicate metadata key '{entry.Key}'.", nameof(entries));
            }
        }
    }

    public int Count => _entries.Count;

    public GgufMetadataEntry this[int index] => _entries[index];

    public bool ContainsKey(string key) => _byKey.ContainsKey(key);

    public bool TryGetEntry(string key, [NotNullWhen(true)] out GgufMetadataEntry? entry) => _byKey.TryGetValue(key, out entry);

    public object? GetValueOrDefault(string key) => _byKey.TryGetValue(key, out var e) ? e.Value : null;

    public string? GetString(string key) => GetValueOrDefault(key) as string;

    /// <summary>An integer value of any integer wire type, or null when absent or not an integer.</summary>
    public long? GetInteger(string key) => GetValueOrDefault(key) switch
    {
        byte v => v,
        sbyte v => v,
        ushort v => v,
        short v => v,
        uint v => v,
        int v => v,
        ulong v when v <= long.MaxValue => (long)v,
        long v => v,
        _ => null,
    };

    public double? GetFloat(string key) => GetValueOrDefault(key) switch
    {
        float v => v,
        double v => v,
        _ => null,
    };

    public bool? GetBool(string key) => GetValueOrDefault(key) as bool?;

    public GgufArray? GetArray(string key) => GetValueOrDefault(key) as GgufArray;

    public IEnumerator<GgufMetadataEntry> GetEnumerator() => _entries.GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
