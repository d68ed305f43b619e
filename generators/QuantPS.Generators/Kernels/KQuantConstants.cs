using System.Collections.Generic;
using System.Linq;

namespace QuantPS.Generators.Kernels;

/// <summary>
/// The vector constants a K-quant dot loop uses on every block (decode masks, scale shuffles), kept in one pinned
/// table per kernel class and loaded into locals before the loop. Written inline, the JIT folds each into its
/// instruction as a memory operand, re-read every block: measured, those loads hold the loop back (Q6_K +8%).
/// </summary>
internal sealed class KQuantConstants
{
    public const string Table = "DotConstants";

    private readonly List<byte> data = new();
    private readonly Dictionary<string, int> offsets = new();
    private readonly List<(string Name, Width Width, int Offset)> locals = new();

    /// <summary>The name of a local holding <paramref name="bytes"/> (one vector of <paramref name="width"/>).</summary>
    public string Vector(Width width, IReadOnlyList<byte> bytes)
    {
        var key = string.Join(",", bytes);
        if (!offsets.TryGetValue(key, out var offset))
        {
            offset = data.Count;
            offsets.Add(key, offset);
            data.AddRange(bytes);
        }

        var existing = locals.FirstOrDefault(local => local.Offset == offset && local.Width == width);
        if (existing.Name is not null)
        {
            return existing.Name;
        }

        var name = "hot" + Width.Text(locals.Count);
        locals.Add((name, width, offset));
        return name;
    }

    /// <summary>Writes the loads of this method's constants and forgets them (the table keeps its data).</summary>
    public void EmitLocals(SourceWriter writer)
    {
        foreach (var (name, width, offset) in locals)
        {
            writer.Line($"var {name} = {width.Vec}.Load({Table}{(offset == 0 ? "" : " + " + Width.Text(offset))});");
        }

        locals.Clear();
    }

    public void EmitTable(SourceWriter writer)
    {
        if (data.Count == 0)
        {
            return;
        }

        writer
            .Line("/// <summary>The dot loops' per-block vector constants, read into registers before each loop.</summary>")
            .Line($"private static readonly byte* {Table} = Simd.Pin(new byte[]")
            .Line("{");
        for (var i = 0; i < data.Count; i += 32)
        {
            writer.Line("    " + string.Join(", ", data.Skip(i).Take(32).Select(value => "0x" + value.ToString("X2"))) + ",");
        }

        writer.Line("});").Line();
    }
}
