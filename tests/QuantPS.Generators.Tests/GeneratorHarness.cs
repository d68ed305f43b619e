using System.Collections.Immutable;
using System.Reflection;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using QuantPS.Generators;

namespace QuantPS.Generators.Tests;

/// <summary>Compiles sample descriptions the way QuantPS.Kernels is compiled and runs the generator over them.</summary>
internal static class GeneratorHarness
{
    public static readonly CSharpParseOptions ParseOptions = new(LanguageVersion.CSharp12);

    private static readonly ImmutableArray<MetadataReference> References =
        ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!)
            .Split(Path.PathSeparator)
            .Select(path => (MetadataReference)MetadataReference.CreateFromFile(path))
            .ToImmutableArray();

    private const string GlobalUsings = """
        global using System;
        global using System.Collections.Generic;
        """;

    /// <summary>The language attributes and GgmlTypeInfo, as QuantPS.Kernels has them.</summary>
    public static IReadOnlyList<SyntaxTree> KernelSupportTrees { get; } = LoadResources("KernelSources.");

    /// <summary>src/QuantPS.Kernels/Formats/*.cs: the real block descriptions.</summary>
    public static IReadOnlyList<SyntaxTree> RealFormatTrees { get; } = LoadResources("RealFormats.");

    public static CSharpCompilation CreateCompilation(params string[] sources) =>
        CreateCompilation(sources.Select((source, i) => Parse(source, $"Sample{i}.cs")));

    public static CSharpCompilation CreateCompilation(IEnumerable<SyntaxTree> trees) =>
        CSharpCompilation.Create(
            "Sample",
            KernelSupportTrees.Concat(trees).Append(Parse(GlobalUsings, "GlobalUsings.cs")),
            References,
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, allowUnsafe: true, nullableContextOptions: NullableContextOptions.Enable));

    public static SyntaxTree Parse(string source, string path) => CSharpSyntaxTree.ParseText(source, ParseOptions, path);

    public static GeneratorDriver CreateDriver(bool trackSteps = false) =>
        CSharpGeneratorDriver.Create(
            new[] { new GgmlBlockGenerator().AsSourceGenerator() },
            parseOptions: ParseOptions,
            driverOptions: new GeneratorDriverOptions(IncrementalGeneratorOutputKind.None, trackIncrementalGeneratorSteps: trackSteps));

    /// <summary>Runs the generator once; returns its result and the compilation with generated code added.</summary>
    public static (GeneratorRunResult Result, Compilation Output) Run(CSharpCompilation compilation)
    {
        var driver = CreateDriver().RunGeneratorsAndUpdateCompilation(compilation, out var output, out _);
        var result = driver.GetRunResult().Results.Single();
        Assert.Null(result.Exception);
        return (result, output);
    }

    public static (GeneratorRunResult Result, Compilation Output) Run(params string[] sources) => Run(CreateCompilation(sources));

    public static string GeneratedText(GeneratorRunResult result, string hintName) =>
        result.GeneratedSources.Single(source => source.HintName == hintName).SourceText.ToString();

    public static IReadOnlyList<Diagnostic> Errors(Compilation compilation) =>
        compilation.GetDiagnostics(TestContext.Current.CancellationToken).Where(diagnostic => diagnostic.Severity == DiagnosticSeverity.Error).ToList();

    private static IReadOnlyList<SyntaxTree> LoadResources(string prefix)
    {
        var assembly = Assembly.GetExecutingAssembly();
        return assembly.GetManifestResourceNames()
            .Where(name => name.StartsWith(prefix, StringComparison.Ordinal))
            .Order(StringComparer.Ordinal)
            .Select(name =>
            {
                using var reader = new StreamReader(assembly.GetManifestResourceStream(name)!);
                return Parse(reader.ReadToEnd(), name.Substring(prefix.Length));
            })
            .ToList();
    }
}
