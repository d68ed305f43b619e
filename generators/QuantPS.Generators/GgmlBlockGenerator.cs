using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using QuantPS.Generators.Kernels;
using QuantPS.Generators.Model;

namespace QuantPS.Generators;

/// <summary>
/// Reads the declarative block formats (<c>[GgmlBlock]</c> structs and <c>[RetiredGgmlType]</c> ids)
/// and emits each block's packed struct plus the GGML type table.
/// </summary>
/// <remarks>
/// Pipeline: each declaration becomes an equatable model (no symbols or syntax), so an edit
/// elsewhere leaves every step cached. Step names are public for the caching tests.
/// </remarks>
[Generator(LanguageNames.CSharp)]
public sealed class GgmlBlockGenerator : IIncrementalGenerator
{
    public const string LanguageNamespace = "QuantPS.Kernels.Formats";
    public const string BlockAttributeName = LanguageNamespace + ".GgmlBlockAttribute";
    public const string RetiredAttributeName = LanguageNamespace + ".RetiredGgmlTypeAttribute";

    public const string BlockDescriptionsStep = "BlockDescriptions";
    public const string RetiredTypesStep = "RetiredTypes";
    public const string TypeTableStep = "TypeTable";
    public const string CodebooksStep = "Codebooks";
    public const string GridsStep = "Grids";
    public const string KernelPlanStep = "KernelPlan";
    public const string KernelModelsStep = "KernelModels";

    public static readonly ImmutableArray<string> TrackedSteps =
        ImmutableArray.Create(BlockDescriptionsStep, RetiredTypesStep, TypeTableStep, CodebooksStep, GridsStep, KernelPlanStep, KernelModelsStep);

    public void Initialize(IncrementalGeneratorInitializationContext context)
    {
        var blocks = context.SyntaxProvider
            .ForAttributeWithMetadataName(
                BlockAttributeName,
                static (node, _) => node is TypeDeclarationSyntax,
                BlockReader.Read)
            .WithTrackingName(BlockDescriptionsStep);

        var retired = context.SyntaxProvider
            .ForAttributeWithMetadataName(
                RetiredAttributeName,
                static (node, _) => node is TypeDeclarationSyntax,
                ReadRetired)
            .SelectMany(static (entries, _) => entries)
            .WithTrackingName(RetiredTypesStep);

        var codebooks = context.SyntaxProvider
            .ForAttributeWithMetadataName(
                KernelSpecReader.CodebookAttributeName,
                static (node, _) => node is TypeDeclarationSyntax,
                KernelSpecReader.ReadCodebooks)
            .WithTrackingName(CodebooksStep);

        var grids = context.SyntaxProvider
            .ForAttributeWithMetadataName(
                KernelSpecReader.GridAttributeName,
                static (node, _) => node is TypeDeclarationSyntax,
                KernelSpecReader.ReadGrids)
            .WithTrackingName(GridsStep);

        // Kernels are planned across all types (pairings, codebooks), then emitted one file per type,
        // so an edit to one description re-emits only that type's kernels.
        var plan = blocks.Collect()
            .Combine(codebooks.Collect())
            .Combine(grids.Collect())
            .Select(static (pair, _) => KernelPlanner.Plan(pair.Left.Left, pair.Left.Right, pair.Right))
            .WithTrackingName(KernelPlanStep);

        var kernels = plan
            .SelectMany(static (plan, _) => plan.Kernels)
            .WithTrackingName(KernelModelsStep);

        var table = blocks.Collect()
            .Combine(retired.Collect())
            .Combine(plan.Select(static (plan, _) => plan.Summaries))
            .Select(static (pair, _) => TypeTableBuilder.Build(pair.Left.Left, pair.Left.Right, pair.Right))
            .WithTrackingName(TypeTableStep);

        context.RegisterSourceOutput(blocks, EmitBlock);
        context.RegisterSourceOutput(retired, static (production, old) => Report(production, old.Diagnostics));
        context.RegisterSourceOutput(table, EmitTable);
        context.RegisterSourceOutput(plan.Select(static (plan, _) => (plan.Diagnostics, HasKernels: plan.Kernels.Count > 0)), EmitPlan);
        context.RegisterSourceOutput(kernels, EmitKernels);
    }

    private static void EmitPlan(SourceProductionContext production, (EquatableArray<DiagnosticInfo> Diagnostics, bool HasKernels) plan)
    {
        Report(production, plan.Diagnostics);
        if (plan.HasKernels)
        {
            Guard(production, "kernel support", () => production.AddSource(KernelSupportEmitter.HintName, KernelSupportEmitter.Emit()));
            Guard(production, "integer panels", () => production.AddSource(IntegerPanelEmitter.HintName, IntegerPanelEmitter.Emit()));
            Guard(production, "activations", () => production.AddSource(ActivationKernelEmitter.HintName, ActivationKernelEmitter.Emit()));
            Guard(production, "attention", () => production.AddSource(AttentionKernelEmitter.HintName, AttentionKernelEmitter.Emit()));
        }
    }

    private static void EmitKernels(SourceProductionContext production, KernelModel model) =>
        Guard(production, model.Name + " kernels", () => production.AddSource(KernelClassEmitter.HintName(model), KernelClassEmitter.Emit(model)));

    private static void EmitBlock(SourceProductionContext production, BlockModel block)
    {
        Report(production, block.Diagnostics);
        if (block.CanEmitStruct)
        {
            Guard(production, block.StructName, () => production.AddSource(BlockStructEmitter.HintName(block), BlockStructEmitter.Emit(block)));
        }
    }

    private static void EmitTable(SourceProductionContext production, TypeTableModel table)
    {
        Report(production, table.Diagnostics);
        if (table.Types.Count > 0)
        {
            Guard(production, "GgmlTypeTraits", () => production.AddSource(TypeTableEmitter.HintName, TypeTableEmitter.Emit(table)));
        }
    }

    private static EquatableArray<RetiredModel> ReadRetired(GeneratorAttributeSyntaxContext context, CancellationToken cancellationToken)
    {
        var entries = new List<RetiredModel>();
        foreach (var attribute in context.Attributes)
        {
            var location = LocationInfo.From(attribute.ApplicationSyntaxReference?.GetSyntax(cancellationToken).GetLocation());
            try
            {
                var args = new AttributeArguments(attribute);
                var id = args.GetInteger("id");
                var name = args.GetString("name") ?? "";
                var problem = args.HasErrors ? "its arguments (id, name) are missing or do not bind"
                    : id is null or < 0 or > uint.MaxValue ? "id must be a wire id (uint)"
                    : !SyntaxFacts.IsValidIdentifier(name) ? $"name '{name}' must be letters, digits and underscores"
                    : null;
                var diagnostics = problem is null
                    ? EquatableArray<DiagnosticInfo>.Empty
                    : new[] { DiagnosticInfo.Create(Diagnostics.InvalidDeclaration, location, context.TargetSymbol.Name, "RetiredGgmlType", problem) }.ToEquatableArray();
                entries.Add(new RetiredModel((uint)(id ?? 0), name, location, diagnostics));
            }
            catch (Exception exception) when (exception is not OperationCanceledException)
            {
                var failure = DiagnosticInfo.Create(Diagnostics.GeneratorFailure, location, context.TargetSymbol.Name, exception.GetType().Name + ": " + exception.Message);
                entries.Add(new RetiredModel(0, "", location, new[] { failure }.ToEquatableArray()));
            }
        }

        return entries.ToEquatableArray();
    }

    private static void Report(SourceProductionContext production, EquatableArray<DiagnosticInfo> diagnostics)
    {
        foreach (var diagnostic in diagnostics)
        {
            production.ReportDiagnostic(diagnostic.ToDiagnostic());
        }
    }

    /// <summary>Emission must not throw into the compiler: a bug becomes QPSG009 instead.</summary>
    private static void Guard(SourceProductionContext production, string target, Action emit)
    {
        try
        {
            emit();
        }
        catch (Exception exception) when (exception is not OperationCanceledException)
        {
            production.ReportDiagnostic(Diagnostic.Create(Diagnostics.GeneratorFailure, Location.None, target, exception.GetType().Name + ": " + exception.Message));
        }
    }
}
