using System.Globalization;

namespace QuantPS.PowerShell;

/// <summary>
/// Display helpers for QuantPS.format.ps1xml: human units in views while the objects keep exact
/// numbers. Invariant culture so a view reads the same on every machine.
/// </summary>
public static class ViewFormat
{
    private static readonly string[] ByteUnits = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];

    /// <summary>1185376 → "1.13 MiB"; below 1 KiB the exact count ("512 B").</summary>
    public static string Bytes(long bytes)
    {
        if (bytes < 1024)
        {
            return bytes.ToString(CultureInfo.InvariantCulture) + " B";
        }

        var value = (double)bytes;
        var unit = 0;
        while (value >= 1024 && unit < ByteUnits.Length - 1)
        {
            value /= 1024;
            unit++;
        }

        return value.ToString("0.00", CultureInfo.InvariantCulture) + " " + ByteUnits[unit];
    }

    /// <summary>"1.13 MiB (1,185,376 bytes)", for list views.</summary>
    public static string BytesExact(long bytes) =>
        bytes < 1024 ? Bytes(bytes) : $"{Bytes(bytes)} ({bytes.ToString("N0", CultureInfo.InvariantCulture)} bytes)";

    /// <summary>Parameter counts as llama.cpp prints them: 292928 → "292.93 K", 1235814400 → "1.24 B".</summary>
    public static string Count(long count) => Math.Abs(count) switch
    {
        >= 1_000_000_000_000 => Scaled(count, 1e12, "T"),
        >= 1_000_000_000 => Scaled(count, 1e9, "B"),
        >= 1_000_000 => Scaled(count, 1e6, "M"),
        >= 1_000 => Scaled(count, 1e3, "K"),
        _ => count.ToString(CultureInfo.InvariantCulture),
    };

    /// <summary>A shape in ggml order: [64, 512] → "64 x 512"; a scalar → "1".</summary>
    public static string Shape(IEnumerable<long>? shape)
    {
        var text = shape is null ? string.Empty : string.Join(" x ", shape.Select(d => d.ToString(CultureInfo.InvariantCulture)));
        return text.Length == 0 ? "1" : text;
    }

    private static string Scaled(long count, double unit, string suffix) =>
        (count / unit).ToString("0.00", CultureInfo.InvariantCulture) + " " + suffix;
}
