using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Globalization;
using System.Linq;
using QuantPS.Generators.Model;

namespace QuantPS.Generators.Kernels;

/// <summary>
/// Checks the <c>[Grid]</c> tables (QPSG016) and the grid half of a <c>ValueScheme.Grid</c> description: its fields and
/// <c>[Bits]</c> parts (QPSG017), and resolves them into the name-free <see cref="GridModel"/> the kernels are emitted from.
/// </summary>
internal static class GridPlanner
{
    private static readonly string[] Roles = { "GridIndex", "SignPattern", "SignBits", "SubScale", "DeltaSign", "ScaleBits" };

    /// <summary>Each declared grid once, with the checks that need no user.</summary>
    public static Dictionary<string, GridTableModel> CheckGrids(ImmutableArray<EquatableArray<GridTableModel>> groups, List<DiagnosticInfo> diagnostics) =>
        KernelPlanner.FirstOfEachName(groups.SelectMany(group => group), grid => grid.Name, grid => grid.Location, Diagnostics.InvalidGrid, diagnostics, grid =>
        {
            var limit = grid.ValuesPerEntry is >= 1 and < 8 ? 1UL << (8 * grid.ValuesPerEntry) : ulong.MaxValue;
            return grid.ValuesPerEntry is < 1 or > 8 ? $"has {Text(grid.ValuesPerEntry)} values per entry; an entry is one to eight bytes"
                : grid.Entries.Count == 0 ? "has no entries"
                : grid.Entries.Any(entry => grid.ValuesPerEntry < 8 && entry >= limit) ? $"has an entry wider than {Text(grid.ValuesPerEntry)} bytes"
                : null;
        });

    /// <summary>The grid model of <paramref name="block"/>, or null after reporting why there is none.</summary>
    public static GridModel? Plan(BlockModel block, KernelSpec spec, Dictionary<string, GridTableModel> grids, List<DiagnosticInfo> diagnostics)
    {
        var before = diagnostics.Count;
        void Fail(string problem, LocationInfo? at = null) =>
            diagnostics.Add(DiagnosticInfo.Create(Diagnostics.InvalidGridPart, at ?? spec.ReconstructLocation, block.StructName, problem));

        if (spec.Offset != 0)
        {
            Fail("the grid scheme takes no Offset");
        }

        var offsets = new Dictionary<string, (FieldModel Field, int Offset)>(StringComparer.Ordinal);
        var offset = 0;
        foreach (var field in block.Fields)
        {
            offsets[field.Name] = (field, offset);
            offset += field.Bytes;
        }

        foreach (var field in block.Fields.Where(field => field.Kind is not (FieldKind.Scale or FieldKind.GridIndex or FieldKind.HighBits or FieldKind.Signs or FieldKind.SubScales or FieldKind.Packed)))
        {
            Fail($"field '{field.Name}' ({field.Kind}) is not read by the grid scheme", field.Location);
        }

        var indexFields = block.Fields.Where(field => field.Kind == FieldKind.GridIndex).ToList();
        GridTableModel? grid = null;
        if (indexFields.Count != 1 || indexFields[0].Lookup is not { } gridName)
        {
            Fail($"the grid scheme needs one [GridIndex] field naming its Grid (found {Text(indexFields.Count)})");
        }
        else if (!grids.TryGetValue(gridName, out grid))
        {
            diagnostics.Add(DiagnosticInfo.Create(Diagnostics.InvalidGrid, indexFields[0].Location, gridName, $"used by '{block.StructName}' is not declared; add [Grid(\"{gridName}\", ...)]"));
        }

        var slices = new List<BitSlice>();
        GridTableModel? signTable = null;
        foreach (var part in spec.Bits)
        {
            if (Array.IndexOf(Roles, part.Role) < 0)
            {
                Fail($"[Bits] role '{part.Role}' is not a BitRole", part.Location);
                continue;
            }

            if (!offsets.TryGetValue(part.Field, out var at))
            {
                Fail($"a {part.Role} part names field '{part.Field}', which the block does not have", part.Location);
                continue;
            }

            var count = part.Role switch
            {
                "GridIndex" => grid is null ? 0 : block.BlockSize / grid.ValuesPerEntry,
                "SignPattern" => block.BlockSize / 8,
                "SignBits" => block.BlockSize,
                "ScaleBits" => part.Bits > 0 ? 16 / part.Bits : 0,
                _ => part.Per > 0 && block.BlockSize % part.Per == 0 ? block.BlockSize / part.Per : 0,
            };
            if (part.Bits is < 1 or > 16 || (part.Role == "SignBits" && part.Bits != 1) || (part.Role == "ScaleBits" && 16 % part.Bits != 0))
            {
                Fail($"a {part.Role} part of {Text(part.Bits)} bits: parts are 1 to 16 bits, sign bits 1, scale bits a divisor of 16", part.Location);
                continue;
            }

            if (count == 0)
            {
                if (grid is not null || part.Role != "GridIndex")
                {
                    Fail($"a {part.Role} part needs Per, the values each item covers, dividing the {Text(block.BlockSize)} values", part.Location);
                }

                continue;
            }

            var step = part.Step == 0 ? part.Bits : part.Step;
            var run = part.Run == 0 ? count : part.Run;
            var slice = new BitSlice(part.Role, (8 * at.Offset) + part.Start, part.Bits, step, run, part.RunStep, part.Role == "GridIndex" ? grid!.ValuesPerEntry : part.Per, count);
            var last = Enumerable.Range(0, count).Select(n => slice.Position(n) - (8 * at.Offset)).ToList();
            if (last.Any(position => position < 0 || position + part.Bits > 8 * at.Field.Bytes))
            {
                Fail($"its {part.Role} part reads past field '{part.Field}' ({Text(8 * at.Field.Bytes)} bits)", part.Location);
                continue;
            }

            if (part.Role == "SignPattern")
            {
                signTable = part.Table is { } table && grids.TryGetValue(table, out var found) ? found : null;
                if (signTable is null || signTable.ValuesPerEntry != 1 || signTable.Entries.Count != 1 << part.Bits)
                {
                    Fail($"a SignPattern part of {Text(part.Bits)} bits needs Table naming a declared [Grid] of {Text(1 << part.Bits)} one-byte sign masks", part.Location);
                    continue;
                }
            }

            slices.Add(slice);
        }

        if (diagnostics.Count != before || grid is null)
        {
            return null;
        }

        int Count(string role) => slices.Count(slice => slice.Role == role);
        var indexBits = slices.Where(slice => slice.Role == "GridIndex").Sum(slice => slice.Bits);
        if (Count("GridIndex") == 0 || 1L << indexBits != grid.Entries.Count)
        {
            Fail($"its GridIndex parts give {Text(indexBits)}-bit indices; grid '{grid.Name}' has {Text(grid.Entries.Count)} entries");
        }

        var signSources = Count("SignPattern") + Count("SignBits");
        if (grid.Signed ? signSources != 0 : signSources != 1)
        {
            Fail(grid.Signed
                ? $"grid '{grid.Name}' holds signed values; it takes no SignPattern or SignBits part"
                : $"the unsigned values of grid '{grid.Name}' need one sign source, a SignPattern or a SignBits part (found {Text(signSources)})");
        }

        if (Count("SubScale") != 1)
        {
            Fail($"the grid scheme needs one SubScale part (found {Text(Count("SubScale"))})");
        }

        var scales = block.Fields.Count(field => field.Kind == FieldKind.Scale);
        var scaleBits = slices.Where(slice => slice.Role == "ScaleBits").Sum(slice => slice.Bits * slice.Count);
        if (!(scales == 1 && scaleBits == 0 && block.Fields.First(field => field.Kind == FieldKind.Scale).Format == "F16") && !(scales == 0 && scaleBits == 16))
        {
            Fail($"the block scale is one F16 [Scale] field or 16 bits of ScaleBits parts (found {Text(scales)} [Scale] fields and {Text(scaleBits)} scale bits)");
        }

        var hasDelta = spec.Delta != 0;
        if (hasDelta != (Count("DeltaSign") == 1) || Count("DeltaSign") > 1)
        {
            Fail(hasDelta ? "a Delta needs one DeltaSign part" : "a DeltaSign part needs [Reconstruct(Delta = ...)]");
        }

        var log2Multiplier = Log2(spec.Multiplier);
        var log2Delta = hasDelta ? Log2(spec.Delta) : 0;
        if (log2Multiplier is null || log2Delta is null || (hasDelta && log2Delta > 0))
        {
            Fail("Multiplier and Delta must be powers of two, Delta at most 1 (they are folded into the scale exactly)");
            return null;
        }

        var bytes = new List<byte>();
        foreach (var entry in grid.Entries)
        {
            for (var j = 0; j < grid.ValuesPerEntry; j++)
            {
                bytes.Add((byte)(entry >> (8 * j)));
            }
        }

        // Integer kernels hold each weight (±g, or g / Delta ± 1) in an int8 whose magnitude pmaddubsw can take.
        var magnitude = bytes.Max(value => grid.Signed ? Math.Abs((int)(sbyte)value) : value);
        var weight = hasDelta ? (magnitude << -log2Delta.Value) + 1 : magnitude;
        if (weight > 127)
        {
            Fail($"its weights reach {Text(weight)}; the integer kernels hold them in int8 (grid values{(hasDelta ? " / Delta + 1" : "")} at most 127)");
        }

        if (diagnostics.Count != before)
        {
            return null;
        }

        var masks = signTable?.Entries.Select(entry => (byte)entry).ToEquatableArray() ?? EquatableArray<byte>.Empty;
        return new GridModel(bytes.ToEquatableArray(), grid.ValuesPerEntry, grid.Signed, masks, slices.ToEquatableArray(), log2Multiplier.Value, hasDelta, log2Delta.Value);
    }

    private static int? Log2(double value)
    {
        if (value <= 0)
        {
            return null;
        }

        var log2 = Math.Log(value, 2);
        return Math.Abs(log2 - Math.Round(log2)) > 1e-12 ? null : (int)Math.Round(log2);
    }

    private static string Text(long value) => value.ToString(CultureInfo.InvariantCulture);
}
