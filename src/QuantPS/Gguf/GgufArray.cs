using System.Collections;

namespace QuantPS.Gguf;

/// <summary>
/// A metadata array: its element wire type and the elements in a typed .NET array
/// (string[], float[], int[], ... or GgufArray[] when nested). The string form is a
/// summary, so that a 150,000-token vocabulary never floods a console.
/// </summary>
public sealed class GgufArray : IReadOnlyList<object?>
{
    public GgufArray(GgufValueType elementType, Array items)
    {
        ArgumentNullException.ThrowIfNull(items);
        var expected = GgufValueTypes.ClrType(elementType);
        if (items.GetType().GetElementType() != expected)
        {
            throw new ArgumentException($"A {elementType} array holds {expected.Name}[], not {items.GetType().Name}.", nameof(items));
        }

        ElementType = elementType;
        Items = items;
    }

    public GgufValueType ElementType { get; }

    /// <summary>The elements as a typed array, e.g. <c>(string[])array.Items</c>.</summary>
    public Array Items { get; }

    public int Count => Items.Length;

    public object? this[int index] => Items.GetValue(index);

    /// <summary>The elements as T[] when that is their type, without copying.</summary>
    public T[] As<T>() => Items as T[]
        ?? throw new InvalidCastException($"This array holds {ElementType} values, not {typeof(T).Name}.");

    public IEnumerator<object?> GetEnumerator()
    {
        foreach (var item in Items)
        {
            yield return item;
        }
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    /// <summary>e.g. "[String × 512: "&lt;unk&gt;", "&lt;s&gt;", "&lt;/s&gt;", …]".</summary>
    public override string ToString() => Summarize(4);

    public string Summarize(int shown)
    {
        var head = string.Join(", ", this.Take(Math.Max(0, shown)).Select(GgufValueFormatter.Format));
        var more = Count > shown ? ", …" : string.Empty;
        return Count == 0 ? $"[{ElementType} × 0]" : $"[{ElementType} × {Count}: {head}{more}]";
    }
}

/// <summary>Short, single-line renderings of metadata values for views and messages.</summary>
public static class GgufValueFormatter
{
    private const int MaxStringShown = 60;

    public static string Format(object? value) => value switch
    {
        null => string.Empty,
        string s => Quote(s),
        GgufArray a => a.ToString(),
        bool b => b ? "true" : "false",
        float f => f.ToString("R", System.Globalization.CultureInfo.InvariantCulture),
        double d => d.ToString("R", System.Globalization.CultureInfo.InvariantCulture),
        IFormattable f => f.ToString(null, System.Globalization.CultureInfo.InvariantCulture),
        _ => value.ToString() ?? string.Empty,
    };

    private static string Quote(string s)
    {
        var oneLine = s.Replace("\r", "\\r", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);
        return oneLine.Length <= MaxStringShown
            ? "\"" + oneLine + "\""
            : "\"" + oneLine[..MaxStringShown] + "…\" (" + s.Length + " chars)";
    }
}
