using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Globalization;
using System.Linq;
using Microsoft.CodeAnalysis;
using QuantPS.Generators.Model;

namespace QuantPS.Generators.Kernels;

/// <summary>
/// Checks each description's kernel attributes against its fields, resolves codebooks and activation
/// pairings across types (QPSG010-QPSG013), and hands each type to the families that emit it (QPSG014).
/// </summary>
internal static class KernelPlanner
{
    public static KernelPlan Plan(
        ImmutableArray<BlockModel> blocks, ImmutableArray<EquatableArray<CodebookModel>> codebookGroups, ImmutableArray<EquatableArray<GridTableModel>> gridGroups)
    {
        var diagnostics = new List<DiagnosticInfo>();
        var books = CheckCodebooks(codebookGroups.SelectMany(group => group), diagnostics);
        var grids = GridPlanner.CheckGrids(gridGroups, diagnostics);
        var valid = blocks.Where(block => block.HeaderIsValid && block.Diagnostics.Count == 0)
            .OrderBy(block => block.Id).ThenBy(block => block.StructName, StringComparer.Ordinal).ToList();
        var byName = new Dictionary<string, BlockModel>(StringComparer.Ordinal);
        foreach (var block in valid)
        {
            byName[block.Name] = block;
        }

        var kernels = new List<KernelModel>();
        var summaries = new List<KernelSummary>();
        foreach (var block in valid)
        {
            if (block.Kernel is { } spec && PlanOne(block, spec, books, grids, byName, diagnostics) is { } model)
            {
                kernels.Add(model);
                var integers = model.WeightFamily is { } family && KernelFamilies.ByName(family).EmitsIntegers(model);
                var (min, max) = integers ? IntegerPanelEmitter.Range(model) : (0, 0);
                summaries.Add(new KernelSummary(
                    model.Name, spec.Activation ?? model.Name, model.ClassName, model.HasDequantize, model.HasDot, model.HasQuantizer, integers)
                {
                    IntegerMin = min,
                    IntegerMax = max,
                    SubScaledMins = model.WeightFamily is { } weights ? KernelFamilies.ByName(weights).SubScaledMins(model) : null,
                    SubBlockQuantMax = model.WeightFamily is { } owner ? KernelFamilies.ByName(owner).SubBlockQuantMax(model) : null,
                    HasPreparedDot = model.WeightFamily is { } emitter && KernelFamilies.ByName(emitter).EmitsPreparedDot(model),
                });
            }
        }

        return new KernelPlan(kernels.ToEquatableArray(), summaries.ToEquatableArray(), diagnostics.ToEquatableArray());
    }

    public static LayoutModel Layout(BlockModel block)
    {
        var offset = 0;
        var fields = new List<KernelField>();
        foreach (var field in block.Fields)
        {
            fields.Add(new KernelField(field.Kind, field.Format, field.Bits, field.Count, field.Signed, field.Order, offset, field.Bytes, field.WithMins, field.ValueOffset));
            offset += field.Bytes;
        }

        return new LayoutModel(block.Name, block.BlockSize, block.TypeSize, fields.ToEquatableArray());
    }

    private static KernelModel? PlanOne(
        BlockModel block,
        KernelSpec spec,
        Dictionary<string, CodebookModel> books,
        Dictionary<string, GridTableModel> grids,
        Dictionary<string, BlockModel> byName,
        List<DiagnosticInfo> diagnostics)
    {
        var name = block.StructName;
        if (spec.Bits.Count > 0 && spec.Scheme != "Grid")
        {
            diagnostics.Add(DiagnosticInfo.Create(Diagnostics.InvalidGridPart, spec.Bits[0].Location, name, "[Bits] parts are read only by [Reconstruct(ValueScheme.Grid)]"));
            return null;
        }

        if (spec.Scheme is null)
        {
            var at = spec.ActivationLocation ?? spec.QuantizerLocation;
            diagnostics.Add(DiagnosticInfo.Create(Diagnostics.InvalidReconstruction, at, name, "[Activation] and [ActivationQuantizer] need a [Reconstruct] saying how values are rebuilt"));
            return null;
        }

        var before = diagnostics.Count;
        var layout = Layout(block);
        var grid = spec.Scheme == "Grid" ? GridPlanner.Plan(block, spec, grids, diagnostics) : null;
        foreach (var problem in spec.Scheme == "Grid" ? Enumerable.Empty<string>() : SchemeProblems(block, spec))
        {
            diagnostics.Add(DiagnosticInfo.Create(Diagnostics.InvalidReconstruction, spec.ReconstructLocation, name, problem));
        }

        foreach (var field in block.Fields)
        {
            if (OrderProblem(field) is { } problem)
            {
                diagnostics.Add(DiagnosticInfo.Create(Diagnostics.InvalidOrder, field.Location ?? spec.ReconstructLocation, field.Name, name, field.Order, problem));
            }
        }

        var (codebook, log2) = ResolveCodebook(block, spec, books, diagnostics);
        var activation = ResolveActivation(block, spec, byName, diagnostics);
        if (spec.QuantizerRule is { } rule)
        {
            foreach (var problem in QuantizerProblems(block, spec, rule))
            {
                diagnostics.Add(DiagnosticInfo.Create(Diagnostics.InvalidQuantizer, spec.QuantizerLocation, name, rule, problem));
            }
        }

        if (diagnostics.Count != before)
        {
            return null;
        }

        var model = new KernelModel(block.Name, layout, spec.Scheme, spec.Offset, codebook, log2, activation, spec.QuantizerRule, null, null) { Grid = grid };
        var weights = KernelFamilies.All.FirstOrDefault(family => family.EmitsWeights(model));
        if (weights is null)
        {
            diagnostics.Add(DiagnosticInfo.Create(Diagnostics.NoKernelRecipe, spec.ReconstructLocation, "dequantize kernels", name, Describe(model)));
            return null;
        }

        if (activation is not null && weights.DotProblem(model) is { } reason)
        {
            // An activation-only format (Q8_K) names itself and needs no dot product.
            if (activation.Name != block.Name)
            {
                diagnostics.Add(DiagnosticInfo.Create(Diagnostics.NoKernelRecipe, spec.ActivationLocation, "a dot product with " + activation.Name, name, reason));
                return null;
            }

            activation = null;
        }

        model = model with { Activation = activation, WeightFamily = weights.Name };
        if (spec.QuantizerRule is not null)
        {
            var quantizer = KernelFamilies.All.FirstOrDefault(family => family.EmitsQuantizer(model));
            if (quantizer is null)
            {
                diagnostics.Add(DiagnosticInfo.Create(Diagnostics.NoKernelRecipe, spec.QuantizerLocation, "an activation quantizer", name, "rule " + spec.QuantizerRule + ", " + Describe(model)));
                return null;
            }

            model = model with { QuantizerFamily = quantizer.Name };
        }

        return model;
    }

    private static IEnumerable<string> SchemeProblems(BlockModel block, KernelSpec spec)
    {
        var fields = block.Fields;
        int Count(FieldKind kind) => fields.Count(field => field.Kind == kind);
        var quants = fields.FirstOrDefault(field => field.Kind == FieldKind.Quants);
        var isElement = Count(FieldKind.Element) == 1;

        if (spec.Multiplier != 1.0 || spec.Delta != 0.0)
        {
            yield return "Multiplier and Delta belong to scheme Grid";
        }

        if (spec.Scheme == "Element")
        {
            if (!isElement)
            {
                yield return "scheme Element is for plain element types with one [Element] field";
            }

            if (spec.Offset != 0)
            {
                yield return "an element type takes no Offset";
            }

            yield break;
        }

        if (isElement)
        {
            yield return $"an element type must use ValueScheme.Element, not {spec.Scheme}";
            yield break;
        }

        // UE4M3 sub-scales carry the whole scale (NVFP4): no block scale above them.
        var floatSubScales = spec.Scheme == "SubScaledCodebook" && Count(FieldKind.Scale) == 0
            && fields.Count(field => field.Kind == FieldKind.SubScales) == 1
            && fields.First(field => field.Kind == FieldKind.SubScales).Format == "UE4M3";
        if (Count(FieldKind.Scale) != 1 && !floatSubScales)
        {
            yield return $"scheme {spec.Scheme} needs exactly one [Scale] field (found {Count(FieldKind.Scale)})";
        }

        var needsMin = spec.Scheme is "ScaledWithMin" or "SubScaledWithMin";
        if (needsMin != (Count(FieldKind.Min) == 1) || Count(FieldKind.Min) > 1)
        {
            yield return needsMin ? $"scheme {spec.Scheme} needs one [Min] field" : $"scheme {spec.Scheme} ignores the [Min] field; use {(spec.Scheme == "SubScaled" ? "SubScaledWithMin" : "ScaledWithMin")}";
        }

        var subScales = fields.Where(field => field.Kind == FieldKind.SubScales).ToList();
        if (spec.Scheme is "SubScaled" or "SubScaledWithMin" or "SubScaledCodebook")
        {
            var sub = subScales.Count == 1 ? subScales[0] : null;
            if (sub is null)
            {
                yield return $"scheme {spec.Scheme} needs exactly one [SubScales] field (found {subScales.Count})";
            }
            else if (block.BlockSize % sub.Count != 0)
            {
                yield return $"{Text(sub.Count)} sub-scales do not split the {Text(block.BlockSize)} values into equal sub-blocks";
            }
            else if (needsMin != sub.WithMins)
            {
                yield return needsMin ? "scheme SubScaledWithMin needs sub-block mins ([SubScales(..., WithMins = true)])" : "the [SubScales] carry mins that scheme SubScaled ignores; use SubScaledWithMin";
            }
            else if (sub.Format != "Integer" && !floatSubScales)
            {
                yield return $"scheme {spec.Scheme} takes integer sub-scales, not {sub.Format}";
            }
        }
        else if (subScales.Count > 0)
        {
            yield return $"scheme {spec.Scheme} ignores the [SubScales] field; use SubScaled or SubScaledWithMin";
        }

        if (quants is null)
        {
            // Base-3 digits (TQ1_0): each value is a trit 0..2, so any Offset that keeps it in int8 will do.
            if (spec.Scheme == "Scaled" && Count(FieldKind.Trits) > 0)
            {
                if (spec.Offset < -128 || spec.Offset > 125)
                {
                    yield return $"trits plus Offset {Text(spec.Offset)} do not fit an int8";
                }

                yield break;
            }

            yield return "there is no [Quants] field to decode";
            yield break;
        }

        var isCodebook = spec.Scheme is "Codebook" or "SubScaledCodebook";
        if (isCodebook != (quants.Lookup is not null))
        {
            yield return isCodebook ? "scheme Codebook needs the quants to name a Codebook" : $"the quants name codebook '{quants.Lookup}' but scheme {spec.Scheme} does not use it";
        }

        if (isCodebook && spec.Offset != 0)
        {
            yield return "a codebook scheme takes no Offset";
        }

        var high = fields.Where(field => field.Kind == FieldKind.HighBits).ToList();
        foreach (var plane in high.Where(plane => plane.Count != quants.Count))
        {
            yield return $"high-bit plane '{plane.Name}' covers {Text(plane.Count)} values, the quants {Text(quants.Count)}";
        }

        // Integer dot products hold each rebuilt quant in an int8.
        var bits = quants.Bits + high.Sum(plane => plane.Bits);
        long low = quants.Signed ? -(1L << (bits - 1)) : 0;
        long top = quants.Signed ? (1L << (bits - 1)) - 1 : (1L << bits) - 1;
        if (!isCodebook && bits <= 8 && (low + spec.Offset < -128 || top + spec.Offset > 127))
        {
            yield return $"quants of {Text(bits)} bits plus Offset {Text(spec.Offset)} do not fit an int8";
        }
    }

    /// <summary>Why a field's <c>Order</c> cannot describe it (QPSG015), or null.</summary>
    private static string? OrderProblem(FieldModel field)
    {
        var isValues = field.Kind is FieldKind.Quants or FieldKind.HighBits;
        var isScales = field.Kind == FieldKind.SubScales;
        switch (field.Order)
        {
            case "SplitHalves":
                return !isValues ? "it orders quants and high-bit planes"
                    : field.Bits != 4 || field.Count % 2 != 0 ? $"it packs two 4-bit items to a byte; the items are {Text(field.Bits)}-bit"
                    : null;
            case "Interleaved32" or "Interleaved64":
                var run = field.Order == "Interleaved32" ? 32 : 64;
                return !isValues ? "it orders quants and high-bit planes"
                    : field.Bits is not (1 or 2 or 4) ? $"it packs 1-, 2- or 4-bit items into bytes; the items are {Text(field.Bits)}-bit"
                    : field.Count % (run * (8 / field.Bits)) != 0 ? $"a run of {Text(run)} bytes holds {Text(run * (8 / field.Bits))} values; {Text(field.Count)} is not a whole number of runs"
                    : null;
            case "ScaleMinPairs":
                return !isScales ? "it packs sub-scales"
                    : !field.WithMins || field.Bits != 4 ? "it pairs a 4-bit scale and a 4-bit min in each byte ([SubScales(bits: 4, ..., WithMins = true)])"
                    : null;
            case "ScalesK3":
                return !isScales ? "it packs sub-scales"
                    : field.WithMins || field.Bits != 6 || field.Count != 16 ? "it packs 16 scales of 6 bits without mins ([SubScales(bits: 6, count: 16)])"
                    : null;
            case "SplitHalves32" or "SplitHalves16":
                var values = field.Order == "SplitHalves32" ? 32 : 16;
                return !isValues ? "it orders quants and high-bit planes"
                    : field.Bits != 4 || field.Count % values != 0 ? $"it packs two 4-bit items to a byte in runs of {Text(values)} values; the items are {Text(field.Bits)}-bit, {Text(field.Count)} of them"
                    : null;
            case "ScalesHighLow":
                return !isScales ? "it packs sub-scales"
                    : field.WithMins || field.Bits != 6 || field.Count != 8 ? "it packs 8 scales of 6 bits without mins ([SubScales(bits: 6, count: 8)])"
                    : null;
            case "ScaleMinK4":
                return !isScales ? "it packs sub-scales"
                    : !field.WithMins || field.Bits != 6 || field.Count != 8 ? "it packs 8 scales and 8 mins of 6 bits ([SubScales(bits: 6, count: 8, WithMins = true)])"
                    : null;
            default:
                return null;
        }
    }

    private static IEnumerable<string> QuantizerProblems(BlockModel block, KernelSpec spec, string rule)
    {
        var quants = block.Fields.FirstOrDefault(field => field.Kind == FieldKind.Quants);
        if (rule == "Convert")
        {
            if (spec.Scheme != "Element")
            {
                yield return "Convert is for element types";
            }

            yield break;
        }

        if (quants is null || quants.Bits != 8 || !quants.Signed || quants.Order != "Sequential")
        {
            yield return "it needs signed 8-bit Sequential quants";
        }

        if (spec.Scheme != "Scaled" || spec.Offset != 0)
        {
            yield return "it writes d * q values, so the scheme must be Scaled without Offset";
        }

        var scale = block.Fields.FirstOrDefault(field => field.Kind == FieldKind.Scale);
        if (scale is null || scale.Format is not ("F16" or "F32"))
        {
            yield return "it needs an F16 or F32 [Scale]";
        }

        foreach (var extra in block.Fields.Where(field => field.Kind is not (FieldKind.Scale or FieldKind.Quants or FieldKind.Sum or FieldKind.GroupSums)))
        {
            yield return $"it does not fill field '{extra.Name}' ({extra.Kind})";
        }

        foreach (var sums in block.Fields.Where(field => field.Kind == FieldKind.GroupSums))
        {
            if (sums.Bits != 16 || !sums.Signed || block.BlockSize % sums.Count != 0)
            {
                yield return $"group sums '{sums.Name}' must be signed 16-bit and split the block evenly";
            }
        }
    }

    private static (EquatableArray<int> Values, int Log2) ResolveCodebook(
        BlockModel block, KernelSpec spec, Dictionary<string, CodebookModel> books, List<DiagnosticInfo> diagnostics)
    {
        var quants = block.Fields.FirstOrDefault(field => field.Kind == FieldKind.Quants);
        if (spec.Scheme is not ("Codebook" or "SubScaledCodebook") || quants?.Lookup is not { } bookName)
        {
            return (EquatableArray<int>.Empty, 0);
        }

        if (!books.TryGetValue(bookName, out var book))
        {
            diagnostics.Add(DiagnosticInfo.Create(Diagnostics.InvalidCodebook, quants.Location, bookName, $"used by '{block.StructName}' is not declared; add [Codebook(\"{bookName}\", ...)]"));
            return (EquatableArray<int>.Empty, 0);
        }

        if (quants.Bits > 8 || book.Values.Count != 1 << quants.Bits)
        {
            diagnostics.Add(DiagnosticInfo.Create(Diagnostics.InvalidCodebook, quants.Location, bookName, $"has {Text(book.Values.Count)} values; the {Text(quants.Bits)}-bit quants of '{block.StructName}' need {Text(1L << Math.Min(quants.Bits, 62))}"));
            return (EquatableArray<int>.Empty, 0);
        }

        return (book.Values, (int)Math.Round(Math.Log(book.Multiplier, 2)));
    }

    private static LayoutModel? ResolveActivation(BlockModel block, KernelSpec spec, Dictionary<string, BlockModel> byName, List<DiagnosticInfo> diagnostics)
    {
        if (spec.Activation is not { } name)
        {
            return null;
        }

        var problem = !byName.TryGetValue(name, out var activation) ? "is not a declared type"
            : activation.Kernel?.QuantizerRule is null ? "has no [ActivationQuantizer]"
            : null;
        if (problem is not null)
        {
            diagnostics.Add(DiagnosticInfo.Create(Diagnostics.InvalidActivation, spec.ActivationLocation, block.StructName, name, problem));
            return null;
        }

        return Layout(activation!);
    }

    /// <summary>Each declared codebook once, with the checks that need no user.</summary>
    private static Dictionary<string, CodebookModel> CheckCodebooks(IEnumerable<CodebookModel> declared, List<DiagnosticInfo> diagnostics) =>
        FirstOfEachName(declared, book => book.Name, book => book.Location, Diagnostics.InvalidCodebook, diagnostics, book =>
        {
            var log2 = Math.Log(book.Multiplier, 2);
            return book.Values.Any(value => value is < -128 or > 127) ? "has values outside -128..127; kernels keep codebook entries in int8"
                : book.Multiplier <= 0 || Math.Abs(log2 - Math.Round(log2)) > 1e-12 ? $"has Multiplier {book.Multiplier.ToString(CultureInfo.InvariantCulture)}, which is not a power of two (it is folded into the scale exactly)"
                : null;
        });

    /// <summary>
    /// Named tables (codebooks, grids) in source order, each name once: a nameless one, a second of a name, or one with a
    /// <paramref name="problem"/> is reported with <paramref name="descriptor"/> (name, problem) and left out.
    /// </summary>
    public static Dictionary<string, T> FirstOfEachName<T>(
        IEnumerable<T> declared, Func<T, string> name, Func<T, LocationInfo?> location, DiagnosticDescriptor descriptor, List<DiagnosticInfo> diagnostics, Func<T, string?> problem)
    {
        var tables = new Dictionary<string, T>(StringComparer.Ordinal);
        foreach (var table in declared.OrderBy(table => location(table)?.FilePath, StringComparer.Ordinal).ThenBy(table => location(table)?.Span.Start))
        {
            var why = name(table).Length == 0 ? "has no name"
                : tables.ContainsKey(name(table)) ? "is declared twice"
                : problem(table);
            if (why is not null)
            {
                diagnostics.Add(DiagnosticInfo.Create(descriptor, location(table), name(table), why));
                continue;
            }

            tables.Add(name(table), table);
        }

        return tables;
    }

    private static string Describe(KernelModel model)
    {
        var parts = model.Layout.Fields.Select(field => field.Kind + (field.Bits > 0 && field.Kind != FieldKind.Scale ? " " + Text(field.Bits) + "-bit" : " " + field.Format) + (field.Order == "Sequential" ? "" : " " + field.Order));
        return $"scheme {model.Scheme}, {Text(model.Layout.BlockSize)} values: {string.Join(", ", parts)}";
    }

    private static string Text(long value) => value.ToString(CultureInfo.InvariantCulture);
}
