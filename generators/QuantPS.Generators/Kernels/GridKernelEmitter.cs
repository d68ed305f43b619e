using System.Collections.Generic;
using System.Linq;
using QuantPS.Generators.Model;

namespace QuantPS.Generators.Kernels;

/// <summary>
/// The i-quant grids (<c>ValueScheme.Grid</c>: IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S, IQ1_S, IQ1_M). Per 32 values (16 at
/// 128 bits): the grid indices are read from their parts as scalars and their entries loaded from the pinned grid (4 or 8
/// values each) into one vector; the signs become byte masks (a sign pattern selects 8 of them from a table, sign bits are
/// spread to bytes). The dot product with Q8_K applies the signs to the activations and multiplies them with the
/// unsigned grid bytes (pmaddubsw), or, for grids with a Delta (IQ1), multiplies the signed weights <c>g / Delta ± 1</c>;
/// int32 per 16-value lane times <c>2 s + 1</c>, summed per super-block, then <c>d * d8</c> and the power-of-two
/// multiplier in float, as ggml's. Dequantizing computes <c>d * (2 s + 1)</c> first, then times the weight, ggml's order.
/// </summary>
internal sealed class GridKernelEmitter : BlockKernelFamily
{
    /// <summary>Values per 128-bit lane: every lane of a dot product lies in one sub-scale.</summary>
    private const int Lane = 16;

    public override string Name => "Grid";

    public override bool EmitsWeights(KernelModel model)
    {
        if (model.Scheme != "Grid" || model.Grid is not { } grid || model.Layout.BlockSize % 64 != 0)
        {
            return false;
        }

        var signBits = grid.One("SignBits");
        var delta = grid.One("DeltaSign");
        return grid.ValuesPerEntry is 4 or 8
            && grid.One("SubScale")!.Per % Lane == 0
            && (signBits is null || (signBits.Step == 1 && signBits.Run == signBits.Count && signBits.Start % 8 == 0))
            && (delta is null || (delta.Per % 8 == 0 && grid.ValuesPerEntry == 8));
    }

    public override string? DotProblem(KernelModel model) => SuperBlockDotProblem(model, needsSums: false);

    protected override void EmitDequantize(SourceWriter writer, KernelModel model, Width width)
    {
        var grid = model.Grid!;
        var sub = grid.One("SubScale")!;
        var multiplier = grid.WeightLog2 == 0 ? "" : " * " + GridReferenceEmitter.Power(grid.WeightLog2);
        var summary = "Dequantizes whole super-blocks, " + Width.Text(width.Bits) + "-bit vectors: d * (2s + 1) per sub-block, times the signed grid weight.";
        DequantizeRow(writer, width, summary, () =>
        {
            writer.Line($"float d = {GridReferenceEmitter.Scale(model, "blk", exact: false)};");
            for (var j = 0; j < sub.Count; j++)
            {
                writer.Line($"var dl{j} = {width.Vec}.Create(d * (2 * {GridReferenceEmitter.Read(sub, j, "blk")} + 1){multiplier});");
            }

            for (var v = 0; v < model.Layout.BlockSize / width.Bytes; v++)
            {
                var (values, mask) = EmitChunk(writer, model, width, v * width.Bytes, "q" + Width.Text(v));
                var weights = mask is null ? values : $"(({values} ^ {mask}) - {mask})";
                StoreWidened(writer, width, v, weights, (floats, first) => $"(dl{first / sub.Per} * {floats})");
            }
        });
    }

    protected override void EmitDotScalar(SourceWriter writer, KernelModel model)
    {
        var activation = model.Activation!;
        var grid = model.Grid!;
        var sub = grid.One("SubScale")!;
        var d8 = ReferenceEmitter.ScalarField(activation.Find(FieldKind.Scale)!, "act");
        var summary = $"Scalar fallback dot product with {activation.Name}: int products per sub-block times 2s + 1, summed per super-block, then scaled.";
        DotScalarRow(writer, summary, () =>
        {
            SuperBlockPointers(writer, activation, "int sumi = 0;");
            writer.Line($"for (int j = 0; j < {Width.Text(sub.Count)}; j++)");
            using (writer.Braces())
            {
                writer.Line("int isum = 0;").Line($"for (int i = j * {Width.Text(sub.Per)}; i < (j + 1) * {Width.Text(sub.Per)}; i++)");
                using (writer.Braces())
                {
                    writer.Line("isum += Weight(block, i) * aq[i];");
                }

                var position = $"{Width.Text(sub.Start)} + j * {Width.Text(sub.Step)}";
                if (sub.Run != sub.Count)
                {
                    position = $"{Width.Text(sub.Start)} + (j / {Width.Text(sub.Run)}) * {Width.Text(sub.RunStep)} + (j % {Width.Text(sub.Run)}) * {Width.Text(sub.Step)}";
                }

                writer.Line($"sumi += (2 * Bits(block, {position}, {Width.Text(sub.Bits)}) + 1) * isum;");
            }

            writer.Line($"sum += {GridReferenceEmitter.Scale(model, "block", exact: false)} * {d8} * {GridReferenceEmitter.Power(grid.WeightLog2)} * sumi;");
        });
    }

    protected override void EmitDot(SourceWriter writer, KernelModel model, Width width)
    {
        var activation = model.Activation!;
        var grid = model.Grid!;
        var sub = grid.One("SubScale")!;
        var d8 = ReferenceEmitter.ScalarField(activation.Find(FieldKind.Scale)!, "act");
        var aq = activation.Find(FieldKind.Quants)!.Offset;
        var summary = $"Dot product with {activation.Name}, whole super-blocks, {width.Bits}-bit vectors: int32 sums per 16 values times 2s + 1, then float.";
        DotRow(writer, width, model.Layout.TypeSize, summary, activation.TypeSize, () =>
        {
            for (var j = 0; j < sub.Count; j++)
            {
                writer.Line($"int s{j} = 2 * {GridReferenceEmitter.Read(sub, j, "blk")} + 1;");
            }

            var products = new List<string>();
            for (var v = 0; v < model.Layout.BlockSize / width.Bytes; v++)
            {
                var first = v * width.Bytes;
                var (values, mask) = EmitChunk(writer, model, width, first, "w" + Width.Text(v));
                writer.Line($"var y{v} = {width.Vec}.Load((sbyte*)({ReferenceEmitter.Address("act", aq + first)}));");
                // Unsigned grid bytes: the signs go onto the activations; either way the scale goes into pmaddwd.
                var product = mask is null
                    ? $"Simd.DotI8Scaled({values}, y{v}, {LaneScales(width, first, sub.Per)})"
                    : $"Simd.DotScaled({values}.AsByte(), (y{v} ^ {mask}) - {mask}, {LaneScales(width, first, sub.Per)})";
                writer.Line($"var p{v} = {product};");
                products.Add("p" + Width.Text(v));
            }

            writer.Line($"var isum = {TreeSum(products)};");
            writer.Line($"acc = Simd.MultiplyAdd({width.Vec}.ConvertToSingle(isum), {width.Vec}.Create({GridReferenceEmitter.Scale(model, "blk", exact: false)} * {d8} * {GridReferenceEmitter.Power(grid.WeightLog2)}), acc);");
        });
    }

    /// <summary>The int16 scale vector of the values from <paramref name="first"/>: <c>s[j]</c> in each 16-value lane.</summary>
    private static string LaneScales(Width width, int first, int per)
    {
        if (width == Width.V128 || first / per == (first + width.Bytes - 1) / per)
        {
            return $"{width.Vec}.Create((short)s{first / per})";
        }

        var half = width == Width.V512 ? Width.V256 : Width.V128;
        return $"{width.Vec}.Create({LaneScales(half, first, per)}, {LaneScales(half, first + half.Bytes, per)})";
    }

    /// <summary>
    /// Emits the values <c>first .. first + width.Bytes</c> of the block at <c>blk</c>: the unsigned grid bytes and the name
    /// of the byte mask of their signs (0xFF negates), or, for a grid with a Delta, the signed weights and no mask.
    /// </summary>
    private static (string Values, string? Mask) EmitChunk(SourceWriter writer, KernelModel model, Width width, int first, string name)
    {
        var grid = model.Grid!;
        if (width == Width.V512)
        {
            var (lowValues, lowMask) = EmitChunk(writer, model, Width.V256, first, name + "a");
            var (highValues, highMask) = EmitChunk(writer, model, Width.V256, first + 32, name + "b");
            writer.Line($"var {name} = Simd.Join({lowValues}, {highValues});");
            if (lowMask is null)
            {
                return (name, null);
            }

            writer.Line($"var {name}m = Simd.Join({lowMask}, {highMask});");
            return (name, name + "m");
        }

        // The entries, one scalar load each.
        var vpe = grid.ValuesPerEntry;
        var entries = new List<string>();
        var entryWord = vpe == 8 ? "ulong" : "uint";
        var table = grid.HasDelta ? "WeightTable" : "GridTable";
        for (var n = first / vpe; n < (first + width.Bytes) / vpe; n++)
        {
            var shift = 0;
            var parts = grid.Of("GridIndex").Select(slice =>
            {
                var text = shift == 0 ? GridReferenceEmitter.Read(slice, n, "blk") : $"({GridReferenceEmitter.Read(slice, n, "blk")} << {Width.Text(shift)})";
                shift += slice.Bits;
                return text;
            });
            var entry = $"{name}e{Width.Text(entries.Count)}";
            writer.Line($"{entryWord} {entry} = Unsafe.ReadUnaligned<{entryWord}>({table} + ({string.Join(" | ", parts)}) * {Width.Text(vpe)});");
            entries.Add(entry);
        }

        writer.Line($"var {name} = {width.Vec}.Create({string.Join(", ", entries)}).AsSByte();");
        if (grid.HasDelta)
        {
            // g / Delta plus the sign of the delta, per entry: bytes of +1, or of -1 where the bit is set, added to its bytes.
            var delta = grid.One("DeltaSign")!;
            var items = Enumerable.Range(0, entries.Count).Select(k => (first + (k * 8)) / delta.Per).ToList();
            foreach (var item in items.Distinct())
            {
                writer.Line($"ulong {name}d{Width.Text(item)} = 0x0101010101010101UL | (0UL - (ulong){GridReferenceEmitter.Read(delta, item, "blk")});");
            }

            var signs = items.Distinct().Count() == 1 ? $"{name}d{Width.Text(items[0])}" : string.Join(", ", items.Select(item => $"{name}d{Width.Text(item)}"));
            writer.Line($"var {name}w = {name} + {width.Vec}.Create({signs}).AsSByte();");
            return (name + "w", null);
        }

        var bits = width.Bytes;
        if (grid.One("SignPattern") is { } pattern)
        {
            // Each pattern's 8 byte masks in one read, as the grid entries are read.
            var lanes = Enumerable.Range(0, bits / 8).Select(k =>
            {
                var lane = $"{name}s{Width.Text(k)}";
                writer.Line($"ulong {lane} = Unsafe.ReadUnaligned<ulong>(SignLanes + {GridReferenceEmitter.Read(pattern, (first / 8) + k, "blk")} * 8);");
                return lane;
            }).ToList();
            writer.Line($"var {name}m = {width.Vec}.Create({string.Join(", ", lanes)}).AsSByte();");
            return (name, name + "m");
        }

        var signBits = grid.One("SignBits")!;
        var word = bits == 16 ? "ushort" : "uint";
        writer.Line($"var {name}m = Simd.ExpandBits(Unsafe.ReadUnaligned<{word}>({ReferenceEmitter.Address("blk", (signBits.Start + first) / 8)})).AsSByte();");
        return (name, name + "m");
    }
}
