using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using Microsoft.CodeAnalysis;
using QuantPS.Generators.Model;

namespace QuantPS.Generators.Kernels;

/// <summary>
/// Reads the kernel attributes of a description (<c>[Reconstruct]</c>, <c>[Activation]</c>,
/// <c>[ActivationQuantizer]</c>) and <c>[Codebook]</c> tables. Only binding errors are reported here;
/// whether the declarations fit the fields is the planner's job.
/// </summary>
internal static class KernelSpecReader
{
    public const string CodebookAttributeName = GgmlBlockGenerator.LanguageNamespace + ".CodebookAttribute";

    public const string GridAttributeName = GgmlBlockGenerator.LanguageNamespace + ".GridAttribute";

    public static KernelSpec? Read(INamedTypeSymbol symbol, List<DiagnosticInfo> diagnostics, CancellationToken cancellationToken)
    {
        string? scheme = null, activation = null, rule = null;
        var offset = 0;
        double multiplier = 1.0, delta = 0.0;
        var bits = new List<BitsSpec>();
        LocationInfo? reconstructAt = null, activationAt = null, quantizerAt = null;

        foreach (var attribute in symbol.GetAttributes())
        {
            if (attribute.AttributeClass is not { } type || type.ContainingNamespace.ToDisplayString() != GgmlBlockGenerator.LanguageNamespace)
            {
                continue;
            }

            var location = LocationInfo.From(attribute.ApplicationSyntaxReference?.GetSyntax(cancellationToken).GetLocation());
            var args = new AttributeArguments(attribute);
            switch (type.Name)
            {
                case "ReconstructAttribute":
                    scheme = args.GetEnumMemberName("scheme");
                    offset = args.GetInt32("Offset", 0);
                    multiplier = Double(attribute, "Multiplier", 1.0);
                    delta = Double(attribute, "Delta", 0.0);
                    reconstructAt = location;
                    Require(args, scheme, symbol.Name, "Reconstruct", location, diagnostics);
                    break;
                case "ActivationAttribute":
                    activation = args.GetString("type");
                    activationAt = location;
                    Require(args, activation, symbol.Name, "Activation", location, diagnostics);
                    break;
                case "BitsAttribute":
                    var role = args.GetEnumMemberName("role");
                    var field = args.GetString("field");
                    Require(args, role is null ? null : field, symbol.Name, "Bits", location, diagnostics);
                    var width = args.GetInt32("bits", 0);
                    bits.Add(new BitsSpec(
                        role ?? "", field ?? "", width, args.GetInt32("Start", 0), args.GetInt32("Step", 0), args.GetInt32("Run", 0),
                        args.GetInt32("RunStep", 0), args.GetInt32("Per", 0), args.GetString("Table"), location));
                    break;
                case "ActivationQuantizerAttribute":
                    rule = args.GetEnumMemberName("rule");
                    quantizerAt = location;
                    Require(args, rule, symbol.Name, "ActivationQuantizer", location, diagnostics);
                    break;
            }
        }

        return reconstructAt is null && activationAt is null && quantizerAt is null && bits.Count == 0
            ? null
            : new KernelSpec(scheme, offset, reconstructAt, activation, activationAt, rule, quantizerAt)
            {
                Multiplier = multiplier,
                Delta = delta,
                Bits = bits.ToEquatableArray(),
            };
    }

    /// <summary>Reads every <c>[Codebook]</c> on one class.</summary>
    public static EquatableArray<CodebookModel> ReadCodebooks(GeneratorAttributeSyntaxContext context, CancellationToken cancellationToken)
    {
        var books = new List<CodebookModel>();
        foreach (var attribute in context.Attributes)
        {
            var location = LocationInfo.From(attribute.ApplicationSyntaxReference?.GetSyntax(cancellationToken).GetLocation());
            var args = new AttributeArguments(attribute);
            var values = attribute.ConstructorArguments.Length == 2 && attribute.ConstructorArguments[1].Kind == TypedConstantKind.Array
                ? attribute.ConstructorArguments[1].Values.Select(value => value.Value is int i ? i : int.MinValue).ToArray()
                : Array.Empty<int>();
            var multiplier = attribute.NamedArguments.FirstOrDefault(named => named.Key == "Multiplier").Value.Value is double m ? m : 1.0;
            books.Add(new CodebookModel(args.HasErrors ? "" : args.GetString("name") ?? "", values.ToEquatableArray(), multiplier, location));
        }

        return books.ToEquatableArray();
    }

    /// <summary>Reads every <c>[Grid]</c> on one class.</summary>
    public static EquatableArray<GridTableModel> ReadGrids(GeneratorAttributeSyntaxContext context, CancellationToken cancellationToken)
    {
        var grids = new List<GridTableModel>();
        foreach (var attribute in context.Attributes)
        {
            var location = LocationInfo.From(attribute.ApplicationSyntaxReference?.GetSyntax(cancellationToken).GetLocation());
            var args = new AttributeArguments(attribute);
            var entries = attribute.ConstructorArguments.Length == 3 && attribute.ConstructorArguments[2].Kind == TypedConstantKind.Array
                ? attribute.ConstructorArguments[2].Values.Select(value => value.Value is ulong u ? u : 0UL).ToArray()
                : Array.Empty<ulong>();
            var name = args.HasErrors ? "" : args.GetString("name") ?? "";
            grids.Add(new GridTableModel(name, args.GetInt32("valuesPerEntry", 0), args.GetBoolean("Signed"), entries.ToEquatableArray(), location));
        }

        return grids.ToEquatableArray();
    }

    private static double Double(AttributeData attribute, string name, double fallback) =>
        attribute.NamedArguments.FirstOrDefault(named => named.Key == name).Value.Value is double value ? value : fallback;

    private static void Require(AttributeArguments args, string? value, string blockName, string attributeName, LocationInfo? location, List<DiagnosticInfo> diagnostics)
    {
        if (args.HasErrors || value is null)
        {
            diagnostics.Add(DiagnosticInfo.Create(Diagnostics.InvalidDeclaration, location, blockName, attributeName, "its arguments are missing or do not bind"));
        }
    }
}
