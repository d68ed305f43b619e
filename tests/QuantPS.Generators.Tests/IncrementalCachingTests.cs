using System.Collections;
using System.Reflection;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using QuantPS.Generators;

namespace QuantPS.Generators.Tests;

/// <summary>
/// The pipeline's models are plain data, so edits that do not touch a description leave every
/// step cached, and edits that do touch one redo only what depends on it.
/// </summary>
public sealed class IncrementalCachingTests
{
    private const string Formats = """
        namespace QuantPS.Kernels.Formats;

        [GgmlBlock(1, "F16", "f16", blockSize: 1, typeSize: 2)]
        [Element("Value", NumberFormat.F16)]
        [Reconstruct(ValueScheme.Element)]
        [Activation("F16")]
        [ActivationQuantizer(QuantizerRule.Convert)]
        public partial struct ElementF16;

        [GgmlBlock(2, "Q4_0", "q4_0", blockSize: 32, typeSize: 18)]
        [Scale("D", NumberFormat.F16)]
        [Quants("Qs", bits: 4, count: 32)]
        public partial struct BlockQ4_0;

        // Positional sizes, so the edits below that rewrite Q4_0's sizes leave these alone.
        [GgmlBlock(8, "Q8_0", "q8_0", 32, 34)]
        [Scale("D", NumberFormat.F16)]
        [Quants("Qs", 8, 32, Signed = true)]
        [Reconstruct(ValueScheme.Scaled)]
        [Activation("Q8_0")]
        [ActivationQuantizer(QuantizerRule.AbsMax)]
        public partial struct BlockQ8_0;

        [GgmlBlock(20, "IQ4_NL", "iq4_nl", 32, 18)]
        [Scale("D", NumberFormat.F16)]
        [Quants("Qs", 4, 32, Codebook = "IQ4_NL", Order = QuantOrder.SplitHalves)]
        [Reconstruct(ValueScheme.Codebook)]
        [Activation("Q8_0")]
        public partial struct BlockIQ4_NL;

        [Codebook("IQ4_NL", -127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113)]
        internal static class Codebooks;

        // A grid no type uses, so the grid step runs (and is cached) here too.
        [Grid("Unused", valuesPerEntry: 1, 0, 1)]
        internal static class Grids;

        [RetiredGgmlType(4, "Q4_2")]
        [RetiredGgmlType(5, "Q4_3")]
        internal static class Retired;
        """;

    /// <summary>Q3_K, Q6_K and their activation format, as KQuantBlocks.cs declares them.</summary>
    private const string KQuants = """
        namespace QuantPS.Kernels.Formats;

        [GgmlBlock(11, "Q3_K", "q3_K", blockSize: 256, typeSize: 110)]
        [HighBits("HMask", bits: 1, count: 256, Order = QuantOrder.Interleaved32)]
        [Quants("Qs", bits: 2, count: 256, Order = QuantOrder.Interleaved32)]
        [SubScales("Scales", bits: 6, count: 16, Order = QuantOrder.ScalesK3, Offset = -32)]
        [Scale("D", NumberFormat.F16)]
        [Reconstruct(ValueScheme.SubScaled, Offset = -4)]
        [Activation("Q8_K")]
        public partial struct BlockQ3_K;

        [GgmlBlock(14, "Q6_K", "q6_K", blockSize: 256, typeSize: 210)]
        [Quants("Ql", bits: 4, count: 256, Order = QuantOrder.Interleaved64)]
        [HighBits("Qh", bits: 2, count: 256, Order = QuantOrder.Interleaved32)]
        [SubScales("Scales", bits: 8, count: 16, Signed = true)]
        [Scale("D", NumberFormat.F16)]
        [Reconstruct(ValueScheme.SubScaled, Offset = -32)]
        [Activation("Q8_K")]
        public partial struct BlockQ6_K;

        [GgmlBlock(15, "Q8_K", "q8_K", blockSize: 256, typeSize: 292)]
        [Scale("D", NumberFormat.F32)]
        [Quants("Qs", bits: 8, count: 256, Signed = true)]
        [GroupSums("BSums", bits: 16, count: 16, Signed = true)]
        [Reconstruct(ValueScheme.Scaled)]
        [Activation("Q8_K")]
        [ActivationQuantizer(QuantizerRule.SignedAbsMax)]
        public partial struct BlockQ8_K;
        """;

    private const string Unrelated = """
        namespace QuantPS.Kernels;

        internal static class Helper
        {
            public static int Twice(int value) => value * 2;
        }
        """;

    private static readonly IncrementalStepRunReason[] CachedReasons =
        { IncrementalStepRunReason.Cached, IncrementalStepRunReason.Unchanged };

    [Fact]
    public void Adding_an_unrelated_file_leaves_every_step_cached()
    {
        var (driver, compilation) = RunOnce();

        var edited = compilation.AddSyntaxTrees(GeneratorHarness.Parse("namespace Other; public sealed class Extra { }", "Extra.cs"));
        var result = driver.RunGenerators(edited, TestContext.Current.CancellationToken).GetRunResult().Results.Single();

        AssertAllCached(result);
    }

    [Fact]
    public void Editing_an_unrelated_method_body_leaves_every_step_cached()
    {
        var (driver, compilation) = RunOnce();

        var oldTree = compilation.SyntaxTrees.Single(tree => tree.FilePath == "Unrelated.cs");
        var newTree = GeneratorHarness.Parse(Unrelated.Replace("value * 2", "value + value", StringComparison.Ordinal), "Unrelated.cs");
        var result = driver.RunGenerators(compilation.ReplaceSyntaxTree(oldTree, newTree), TestContext.Current.CancellationToken)
            .GetRunResult().Results.Single();

        AssertAllCached(result);
    }

    [Fact]
    public void Renaming_a_field_redoes_its_block_but_not_the_type_table()
    {
        var (driver, compilation) = RunOnce();

        var oldTree = compilation.SyntaxTrees.Single(tree => tree.FilePath == "Formats.cs");
        var newTree = GeneratorHarness.Parse(Formats.Replace("\"Qs\"", "\"Quants\"", StringComparison.Ordinal), "Formats.cs");
        var result = driver.RunGenerators(compilation.ReplaceSyntaxTree(oldTree, newTree), TestContext.Current.CancellationToken)
            .GetRunResult().Results.Single();

        var blockReasons = Reasons(result, GgmlBlockGenerator.BlockDescriptionsStep);
        Assert.Contains(IncrementalStepRunReason.Modified, blockReasons);
        Assert.All(Reasons(result, GgmlBlockGenerator.TypeTableStep), reason => Assert.Contains(reason, CachedReasons));

        // Kernels address fields by offset, not name: no kernel file is re-emitted.
        Assert.All(Reasons(result, GgmlBlockGenerator.KernelModelsStep), reason => Assert.Contains(reason, CachedReasons));
    }

    [Fact]
    public void Editing_a_codebook_re_emits_only_the_kernels_that_use_it()
    {
        var (driver, compilation) = RunOnce();

        var oldTree = compilation.SyntaxTrees.Single(tree => tree.FilePath == "Formats.cs");
        // An inner entry: the table holds the codebook's range (IntegerMin/IntegerMax), which this edit leaves alone.
        var newTree = GeneratorHarness.Parse(Formats.Replace("89, 113)", "88, 113)", StringComparison.Ordinal), "Formats.cs");
        var result = driver.RunGenerators(compilation.ReplaceSyntaxTree(oldTree, newTree), TestContext.Current.CancellationToken)
            .GetRunResult().Results.Single();

        Assert.Empty(result.Diagnostics);
        Assert.Contains(IncrementalStepRunReason.Modified, Reasons(result, GgmlBlockGenerator.CodebooksStep));
        var kernels = Reasons(result, GgmlBlockGenerator.KernelModelsStep);
        Assert.Equal(1, kernels.Count(reason => reason == IncrementalStepRunReason.Modified));
        Assert.Equal(2, kernels.Count(reason => CachedReasons.Contains(reason)));
        Assert.All(Reasons(result, GgmlBlockGenerator.TypeTableStep), reason => Assert.Contains(reason, CachedReasons));
    }

    [Fact]
    public void Editing_a_grid_re_emits_only_the_kernels_that_use_it()
    {
        var compilation = GeneratorHarness.CreateCompilation(new[]
        {
            GeneratorHarness.Parse(Formats, "Formats.cs"),
            GeneratorHarness.Parse(GridSamples.Source, "GridSample.cs"),
        });
        var driver = GeneratorHarness.CreateDriver(trackSteps: true).RunGenerators(compilation, TestContext.Current.CancellationToken);
        Assert.Empty(driver.GetRunResult().Results.Single().Diagnostics);

        var oldTree = compilation.SyntaxTrees.Single(tree => tree.FilePath == "GridSample.cs");
        var newTree = GeneratorHarness.Parse(GridSamples.Replace("0x0807060504030201)]", "0x0807060504030202)]"), "GridSample.cs");
        var result = driver.RunGenerators(compilation.ReplaceSyntaxTree(oldTree, newTree), TestContext.Current.CancellationToken)
            .GetRunResult().Results.Single();

        Assert.Empty(result.Diagnostics);
        Assert.Contains(IncrementalStepRunReason.Modified, Reasons(result, GgmlBlockGenerator.GridsStep));
        var kernels = Reasons(result, GgmlBlockGenerator.KernelModelsStep);
        Assert.Equal(1, kernels.Count(reason => reason == IncrementalStepRunReason.Modified));
        Assert.Equal(4, kernels.Count(reason => CachedReasons.Contains(reason)));
        Assert.All(Reasons(result, GgmlBlockGenerator.TypeTableStep), reason => Assert.Contains(reason, CachedReasons));
    }

    [Fact]
    public void Editing_one_k_quant_re_emits_only_its_kernels()
    {
        var compilation = GeneratorHarness.CreateCompilation(new[] { GeneratorHarness.Parse(KQuants, "KQuants.cs") });
        var driver = GeneratorHarness.CreateDriver(trackSteps: true).RunGenerators(compilation, TestContext.Current.CancellationToken);
        Assert.Empty(driver.GetRunResult().Results.Single().Diagnostics);

        // Q3_K's sub-scales lose their Offset: only Q3_K's kernel model changes (its struct layout does not).
        var oldTree = compilation.SyntaxTrees.Single(tree => tree.FilePath == "KQuants.cs");
        var newTree = GeneratorHarness.Parse(KQuants.Replace("ScalesK3, Offset = -32", "ScalesK3", StringComparison.Ordinal), "KQuants.cs");
        var result = driver.RunGenerators(compilation.ReplaceSyntaxTree(oldTree, newTree), TestContext.Current.CancellationToken)
            .GetRunResult().Results.Single();

        Assert.Empty(result.Diagnostics);
        var kernels = Reasons(result, GgmlBlockGenerator.KernelModelsStep);
        Assert.Equal(1, kernels.Count(reason => reason == IncrementalStepRunReason.Modified));
        Assert.Equal(2, kernels.Count(reason => CachedReasons.Contains(reason)));
        Assert.All(Reasons(result, GgmlBlockGenerator.TypeTableStep), reason => Assert.Contains(reason, CachedReasons));
    }

    [Fact]
    public void Changing_a_type_size_redoes_the_type_table()
    {
        var (driver, compilation) = RunOnce();

        var oldTree = compilation.SyntaxTrees.Single(tree => tree.FilePath == "Formats.cs");
        var source = Formats.Replace("blockSize: 32, typeSize: 18", "blockSize: 64, typeSize: 34", StringComparison.Ordinal)
            .Replace("count: 32", "count: 64", StringComparison.Ordinal);
        var newTree = GeneratorHarness.Parse(source, "Formats.cs");
        var result = driver.RunGenerators(compilation.ReplaceSyntaxTree(oldTree, newTree), TestContext.Current.CancellationToken)
            .GetRunResult().Results.Single();

        Assert.Empty(result.Diagnostics);
        Assert.Contains(IncrementalStepRunReason.Modified, Reasons(result, GgmlBlockGenerator.TypeTableStep));
    }

    [Fact]
    public void Step_outputs_hold_no_symbols_syntax_or_compilations()
    {
        var (driver, _) = RunOnce();
        var result = driver.GetRunResult().Results.Single();

        foreach (var stepName in GgmlBlockGenerator.TrackedSteps)
        {
            foreach (var step in result.TrackedSteps[stepName])
            {
                foreach (var (value, _) in step.Outputs)
                {
                    AssertPlainData(value, stepName);
                }
            }
        }
    }

    private static (GeneratorDriver Driver, CSharpCompilation Compilation) RunOnce()
    {
        var compilation = GeneratorHarness.CreateCompilation(new[]
        {
            GeneratorHarness.Parse(Formats, "Formats.cs"),
            GeneratorHarness.Parse(Unrelated, "Unrelated.cs"),
        });
        var driver = GeneratorHarness.CreateDriver(trackSteps: true).RunGenerators(compilation, TestContext.Current.CancellationToken);
        var first = driver.GetRunResult().Results.Single();
        Assert.Null(first.Exception);
        Assert.Empty(first.Diagnostics);
        return (driver, compilation);
    }

    private static void AssertAllCached(GeneratorRunResult result)
    {
        foreach (var stepName in GgmlBlockGenerator.TrackedSteps)
        {
            var reasons = Reasons(result, stepName);
            Assert.NotEmpty(reasons);
            Assert.All(reasons, reason => Assert.True(CachedReasons.Contains(reason), $"{stepName} output was {reason}"));
        }

        var outputReasons = result.TrackedOutputSteps.SelectMany(step => step.Value).SelectMany(run => run.Outputs).Select(output => output.Reason);
        Assert.All(outputReasons, reason => Assert.Equal(IncrementalStepRunReason.Cached, reason));
    }

    private static IReadOnlyList<IncrementalStepRunReason> Reasons(GeneratorRunResult result, string stepName)
    {
        Assert.True(result.TrackedSteps.ContainsKey(stepName), $"step {stepName} was not tracked");
        return result.TrackedSteps[stepName].SelectMany(step => step.Outputs).Select(output => output.Reason).ToList();
    }

    /// <summary>Walks a model: anything holding a symbol, node or compilation would defeat caching and leak memory.</summary>
    private static void AssertPlainData(object? value, string path)
    {
        switch (value)
        {
            case null or string or ValueType when value is not IEnumerable:
                Assert.False(value is Location, $"{path} holds a Location");
                return;
            case ISymbol or SyntaxNode or SyntaxTree or Compilation or SemanticModel or Location:
                Assert.Fail($"{path} holds a {value.GetType().Name}");
                return;
            case IEnumerable items:
                var index = 0;
                foreach (var item in items)
                {
                    AssertPlainData(item, $"{path}[{index++}]");
                }

                return;
        }

        Assert.True(value.GetType().Namespace?.StartsWith("QuantPS.Generators", StringComparison.Ordinal), $"{path} holds a {value.GetType()}");
        foreach (var property in value.GetType().GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            if (property.GetIndexParameters().Length == 0)
            {
                AssertPlainData(property.GetValue(value), $"{path}.{property.Name}");
            }
        }
    }
}
