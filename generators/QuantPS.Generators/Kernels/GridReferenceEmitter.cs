using System;
using System.Globalization;
using System.Linq;
using QuantPS.Generators.Model;

namespace QuantPS.Generators.Kernels;

/// <summary>
/// The class members of a <c>ValueScheme.Grid</c> type that are not kernels: its tables (pinned, so kernels index them by
/// address), the bit reader, the scalar reference dequantizer written value by value from the description, and the integer
/// weight the scalar dot uses. The expressions that read a <see cref="BitSlice"/> item live here too.
/// </summary>
internal static class GridReferenceEmitter
{
    public static void Emit(SourceWriter writer, KernelModel model)
    {
        var grid = model.Grid!;
        Table(writer, "GridTable", "The grid, value j of entry e at byte e * " + Width.Text(grid.ValuesPerEntry) + " + j.", grid.Grid);
        if (grid.HasDelta)
        {
            var scaled = grid.Grid.Select(value => (byte)((sbyte)value << -grid.Log2Delta)).ToList();
            Table(writer, "WeightTable", "The grid divided by Delta: the integer kernels add the delta's sign (±1) to these.", scaled);
        }

        if (grid.SignMasks.Count > 0)
        {
            Table(writer, "SignMasks", "Sign masks by pattern: bit j set negates value j.", grid.SignMasks);

            // The same masks spread to bytes (0xFF negates), so a kernel loads 8 values' signs with one read.
            var lanes = grid.SignMasks.SelectMany(mask => Enumerable.Range(0, 8).Select(j => (byte)(((mask >> j) & 1) != 0 ? 0xFF : 0x00))).ToList();
            Table(writer, "SignLanes", "Sign masks by pattern as 8 bytes: byte j is 0xFF where value j is negated.", lanes);
        }

        writer
            .Line("/// <summary>The <paramref name=\"width\"/> bits of the block from bit <paramref name=\"position\"/> on, one at a time (the reference's reader).</summary>")
            .Line("private static int Bits(byte* block, int position, int width)");
        using (writer.Braces())
        {
            writer.Line("int value = 0;").Line("for (int k = 0; k < width; k++)");
            using (writer.Braces())
            {
                writer.Line("value |= ((block[(position + k) >> 3] >> ((position + k) & 7)) & 1) << k;");
            }

            writer.Line("return value;");
        }

        writer.Line();
        EmitReference(writer, model);
        EmitWeight(writer, model);
    }

    /// <summary>The block scale as a float: the F16 [Scale], or the F16 assembled from the ScaleBits parts.</summary>
    public static string Scale(KernelModel model, string block, bool exact)
    {
        if (model.Grid!.One("ScaleBits") is not { } bits)
        {
            return ReferenceEmitter.ScaleExpr(model, block, exact);
        }

        var parts = Enumerable.Range(0, bits.Count).Select(n => n == 0 ? Read(bits, n, block) : $"({Read(bits, n, block)} << {Width.Text(n * bits.Bits)})");
        var half = $"(ushort)({string.Join(" | ", parts)})";
        return exact ? $"global::QuantPS.Kernels.FloatConversions.HalfToSingle({half})" : $"Simd.HalfToSingle({half})";
    }

    /// <summary>Item <paramref name="n"/> (a constant) of a part: the fewest whole bytes that hold it, shifted and masked.</summary>
    public static string Read(BitSlice slice, int n, string block)
    {
        var position = slice.Position(n);
        var shift = position & 7;
        var span = shift + slice.Bits;
        var at = ReferenceEmitter.Address(block, position >> 3);
        var (raw, bits) = span <= 8 ? ($"({at})[0]", 8) : span <= 16 ? ($"Unsafe.ReadUnaligned<ushort>({at})", 16) : ($"(int)Unsafe.ReadUnaligned<uint>({at})", 32);
        var shifted = shift == 0 ? raw : $"({raw} >> {Width.Text(shift)})";
        return span == bits && shift == 0 ? raw : $"({shifted} & {Width.Text((1L << slice.Bits) - 1)})";
    }

    /// <summary>Item <paramref name="n"/> (an expression) of a part, through the bit reader.</summary>
    private static string ReadAt(BitSlice slice, string n, string block)
    {
        var position = slice.Run == slice.Count
            ? $"{Width.Text(slice.Start)} + ({n}) * {Width.Text(slice.Step)}"
            : $"{Width.Text(slice.Start)} + (({n}) / {Width.Text(slice.Run)}) * {Width.Text(slice.RunStep)} + (({n}) % {Width.Text(slice.Run)}) * {Width.Text(slice.Step)}";
        return $"Bits({block}, {position}, {Width.Text(slice.Bits)})";
    }

    /// <summary>Grid index <paramref name="n"/>: the GridIndex parts stacked, the first lowest.</summary>
    private static string IndexAt(GridModel grid, string n, string block)
    {
        var shift = 0;
        var parts = grid.Of("GridIndex").Select(slice =>
        {
            var text = shift == 0 ? ReadAt(slice, n, block) : $"({ReadAt(slice, n, block)} << {Width.Text(shift)})";
            shift += slice.Bits;
            return text;
        });
        return "(" + string.Join(" | ", parts) + ")";
    }

    /// <summary>True when value <paramref name="i"/> is negated.</summary>
    private static string NegativeAt(GridModel grid, string i, string block) => grid.One("SignPattern") is { } pattern
        ? $"((SignMasks[{ReadAt(pattern, $"{i} / 8", block)}] >> ({i} % 8)) & 1) != 0"
        : $"{ReadAt(grid.One("SignBits")!, i, block)} != 0";

    private static string SubScaleAt(GridModel grid, string j, string block) => $"(2 * {ReadAt(grid.One("SubScale")!, j, block)} + 1)";

    private static string DeltaNegativeAt(GridModel grid, string i, string block)
    {
        var delta = grid.One("DeltaSign")!;
        return $"{ReadAt(delta, $"{i} / {Width.Text(delta.Per)}", block)} != 0";
    }

    private static string GridValueAt(GridModel grid, string block, string i) =>
        $"{(grid.Signed ? "(sbyte)" : "")}GridTable[{IndexAt(grid, $"{i} / {Width.Text(grid.ValuesPerEntry)}", block)} * {Width.Text(grid.ValuesPerEntry)} + {i} % {Width.Text(grid.ValuesPerEntry)}]";

    /// <summary>A power of two as a float literal, exact.</summary>
    public static string Power(int log2) => Math.Pow(2, log2).ToString("R", CultureInfo.InvariantCulture) + "f";

    private static void EmitReference(SourceWriter writer, KernelModel model)
    {
        var grid = model.Grid!;
        var sub = grid.One("SubScale")!;
        writer
            .Line("/// <summary>Scalar reference: value i of each block rebuilt as the description says (Grid), d * (2s + 1) first, as ggml's.</summary>")
            .Line(KernelFamily.Hot)
            .Line("public static void DequantizeReferenceRow(byte* source, float* destination, long count)");
        using (writer.Braces())
        {
            writer.Line("long blocks = count / BlockSize;").Line("for (long b = 0; b < blocks; b++)");
            using (writer.Braces())
            {
                writer
                    .Line("byte* block = source + b * TypeSize;")
                    .Line("float* y = destination + b * BlockSize;")
                    .Line($"float d = {Scale(model, "block", exact: true)};")
                    .Line("for (int i = 0; i < BlockSize; i++)");
                using (writer.Braces())
                {
                    var multiplier = grid.Log2Multiplier == 0 ? "" : " * " + Power(grid.Log2Multiplier);
                    writer
                        .Line($"float dl = d * {SubScaleAt(grid, $"i / {Width.Text(sub.Per)}", "block")}{multiplier};")
                        .Line($"int g = {GridValueAt(grid, "block", "i")};");
                    if (grid.HasDelta)
                    {
                        var delta = Power(grid.Log2Delta);
                        writer.Line($"y[i] = dl * (g + ({DeltaNegativeAt(grid, "i", "block")} ? -{delta} : {delta}));");
                    }
                    else
                    {
                        writer.Line($"y[i] = dl * ({NegativeAt(grid, "i", "block")} ? -g : g);");
                    }
                }
            }
        }

        writer.Line();
    }

    /// <summary><c>Weight(block, i)</c>: value i as the integer kernels hold it (±g, or g / Delta ± 1), for the scalar dot.</summary>
    private static void EmitWeight(SourceWriter writer, KernelModel model)
    {
        var grid = model.Grid!;
        writer
            .Line("/// <summary>Value <paramref name=\"i\"/> as an integer weight: the value is d * (2s + 1) * 2^" + Width.Text(grid.WeightLog2) + " times it.</summary>")
            .Line("private static int Weight(byte* block, int i)");
        using (writer.Braces())
        {
            writer.Line($"int g = {GridValueAt(grid, "block", "i")};");
            writer.Line(grid.HasDelta
                ? $"return g * {Width.Text(1 << -grid.Log2Delta)} + ({DeltaNegativeAt(grid, "i", "block")} ? -1 : 1);"
                : $"return {NegativeAt(grid, "i", "block")} ? -g : g;");
        }

        writer.Line();
    }

    private static void Table(SourceWriter writer, string name, string summary, System.Collections.Generic.IReadOnlyList<byte> data)
    {
        writer.Line($"/// <summary>{summary}</summary>").Line($"private static readonly byte* {name} = Simd.Pin(new byte[]").Line("{");
        for (var i = 0; i < data.Count; i += 32)
        {
            writer.Line("    " + string.Join(", ", data.Skip(i).Take(32).Select(value => "0x" + value.ToString("X2", CultureInfo.InvariantCulture))) + ",");
        }

        writer.Line("});").Line();
    }
}
