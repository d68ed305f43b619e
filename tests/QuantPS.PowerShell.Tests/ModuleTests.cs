using System.Management.Automation;
using System.Xml.Linq;
using QuantPS.TestSupport;

namespace QuantPS.PowerShell.Tests;

/// <summary>The assembled module: manifest, exports, format views and help.</summary>
public sealed class ModuleTests(PowerShellSession session) : IClassFixture<PowerShellSession>
{
    private static readonly string[] OutputTypes =
    [
        "QuantPS.Gguf.GgufModelInfo",
        "QuantPS.Gguf.GgufTensorInfo",
        "QuantPS.Gguf.GgufMetadataEntry",
        "QuantPS.Gguf.GgufFinding",
        "QuantPS.Inference.Tokenizers.LlmToken",
        "QuantPS.Quantization.Job.QuantizePlan",
        "QuantPS.Quantization.Job.QuantizePlanTensor",
        "QuantPS.Memory.LlmMemoryEstimate",
        "QuantPS.Memory.LlmLayerMemory",
        "QuantPS.Memory.LlmQuantizationOption",
        "QuantPS.Memory.LlmGpuLayerPlan",
        "QuantPS.Inference.Generation.LocalLlmResult",
        "QuantPS.Inference.Generation.LlmModelHandle",
    ];

    private XDocument Views => XDocument.Load(Path.Combine(session.ModuleFolder, "QuantPS.format.ps1xml"));

    [Fact]
    public void Manifest_exports_exactly_the_shipped_cmdlets()
    {
        Assert.Equal(["Close-LlmModel", "ConvertFrom-LlmToken", "ConvertTo-LlmToken", "ConvertTo-Quantized", "Get-GgufInfo", "Invoke-LocalLlm", "Measure-LlmMemory", "Open-LlmModel", "Test-Gguf"], session.Module.ExportedCmdlets.Keys.Order());
        Assert.Empty(session.Module.ExportedFunctions);
        Assert.Empty(session.Module.ExportedAliases);
        Assert.Empty(session.Module.ExportedVariables);
        Assert.Equal(new Version(0, 1, 0), session.Module.Version);
    }

    [Fact]
    public void Engine_types_resolve_right_after_import()
    {
        using var fresh = new PowerShellSession();
        var result = fresh.Run("[QuantPS.Gguf.GgufRemoteOptions]::DefaultInitialRangeBytes; [QuantPS.Kernels.GgmlType]::Q4_K");

        Assert.Empty(result.Errors);
        Assert.Equal(1 << 20, result.Output[0].BaseObject);
        Assert.Equal("Q4_K", result.Output[1].BaseObject.ToString());
    }

    [Fact]
    public void Manifest_is_valid_and_declares_Core_on_7_4()
    {
        var result = session.Run("Test-ModuleManifest -Path $Manifest", ("Manifest", session.ManifestPath));

        var module = result.Single<PSModuleInfo>();
        Assert.Equal(["Core"], module.CompatiblePSEditions);
        Assert.Equal(new Version(7, 4), module.PowerShellVersion);
        Assert.Equal("QuantPS.PowerShell.dll", Path.GetFileName(module.RootModule));
        Assert.False(string.IsNullOrWhiteSpace(module.Description));
    }

    [Fact]
    public void Module_folder_holds_the_assemblies_views_and_help()
    {
        foreach (var file in new[] { "QuantPS.PowerShell.dll", "QuantPS.dll", "QuantPS.Kernels.dll", "QuantPS.format.ps1xml", "en-US/about_QuantPS.help.txt", "en-US/QuantPS.PowerShell.dll-Help.xml" })
        {
            Assert.True(File.Exists(Path.Combine(session.ModuleFolder, file)), file + " is missing from out/QuantPS");
        }
    }

    [Fact]
    public void Every_output_type_has_a_table_and_a_list_view()
    {
        var views = Views.Descendants("View").ToList();

        foreach (var type in OutputTypes)
        {
            var forType = views.Where(v => v.Element("ViewSelectedBy")?.Elements("TypeName").Any(t => t.Value == type) == true).ToList();
            Assert.True(forType.Any(v => v.Element("TableControl") is not null), type + " has no table view");
            Assert.True(forType.Any(v => v.Element("ListControl") is not null), type + " has no list view");
        }
    }

    [Fact]
    public void Every_view_column_works_on_real_output()
    {
        var tiny = ModelFiles.WriteTiny(session.TempPath("views.gguf"));
        var broken = ModelFiles.WriteTruncated(session.TempPath("views-broken.gguf"));
        var samples = new Dictionary<string, string>
        {
            ["QuantPS.Gguf.GgufModelInfo"] = "Get-GgufInfo $Tiny",
            ["QuantPS.Gguf.GgufTensorInfo"] = "Get-GgufInfo $Tiny -Tensor",
            ["QuantPS.Gguf.GgufMetadataEntry"] = "Get-GgufInfo $Tiny -Metadata",
            ["QuantPS.Gguf.GgufFinding"] = "Test-Gguf $Broken",
            ["QuantPS.Inference.Tokenizers.LlmToken"] = "ConvertTo-LlmToken 'Hello' -Model $Tiny -AddSpecial",
            ["QuantPS.Quantization.Job.QuantizePlan"] = "ConvertTo-Quantized $Tiny -Type Q8_0 -WhatIf",
            ["QuantPS.Quantization.Job.QuantizePlanTensor"] = "(ConvertTo-Quantized $Tiny -Type Q8_0 -WhatIf).Tensors",
            ["QuantPS.Memory.LlmMemoryEstimate"] = "@(Measure-LlmMemory $Stories; Measure-LlmMemory -Preset llama-3-8b -Type Q4_K_M -GpuLayers 10 -GpuMemory 8GB)",
            ["QuantPS.Memory.LlmLayerMemory"] = "(Measure-LlmMemory $Stories -PerLayer).Layers",
            ["QuantPS.Memory.LlmQuantizationOption"] = "Measure-LlmMemory -Preset llama-3-8b -Recommend -SystemMemory 6GB",
            ["QuantPS.Memory.LlmGpuLayerPlan"] = "Measure-LlmMemory -Preset llama-3-8b -Type Q4_K_M -MaxGpuLayers -GpuMemory 6GB",
            ["QuantPS.Inference.Generation.LocalLlmResult"] = "Invoke-LocalLlm -Model $Stories -MaxTokens 4 -Temperature 0",
            ["QuantPS.Inference.Generation.LlmModelHandle"] = "Open-LlmModel $Stories",
        };

        foreach (var view in Views.Descendants("View"))
        {
            var type = view.Element("ViewSelectedBy")!.Element("TypeName")!.Value;
            foreach (var item in view.Descendants().Where(e => e.Name == "TableColumnItem" || e.Name == "ListItem"))
            {
                var property = item.Element("PropertyName")?.Value;
                var script = item.Element("ScriptBlock")?.Value ?? $"$_.PSObject.Properties['{property}'] -ne $null";
                var result = session.Run(
                    $"{samples[type]} | ForEach-Object ([scriptblock]::Create($Column))",
                    ("Tiny", tiny), ("Broken", broken), ("Stories", ModelFiles.Stories), ("Column", script));

                Assert.True(result.Errors.Count == 0, $"{type}: '{script}' failed: {string.Join("; ", result.Errors)}");
                Assert.True(result.Output.Count > 0, $"{type}: '{script}' gave nothing");
                if (property is not null)
                {
                    Assert.All(result.Output, o => Assert.True((bool)o.BaseObject, $"{type} has no property {property}"));
                }
            }
        }
    }

    [Fact]
    public void Views_show_sizes_in_human_units_and_shapes_with_x()
    {
        var result = session.Run(
            """
            [QuantPS.PowerShell.ViewFormat]::Bytes(1185376)
            [QuantPS.PowerShell.ViewFormat]::Bytes(512)
            [QuantPS.PowerShell.ViewFormat]::Bytes(4GB)
            [QuantPS.PowerShell.ViewFormat]::BytesExact(1185376)
            [QuantPS.PowerShell.ViewFormat]::Shape([long[]](64, 512))
            [QuantPS.PowerShell.ViewFormat]::Count(292928)
            """);

        Assert.Empty(result.Errors);
        Assert.Equal(
            ["1.13 MiB", "512 B", "4.00 GiB", "1.13 MiB (1,185,376 bytes)", "64 x 512", "292.93 K"],
            result.Output.Select(o => (string)o.BaseObject));
    }

    [Fact]
    public void Tensor_view_shape_reads_64_x_512_for_stories260K_embeddings()
    {
        var shape = FindScript("QuantPS.Gguf.GgufTensorInfo", "TableControl", "Shape");
        var result = session.Run(
            "Get-GgufInfo $Model -Tensor | Where-Object Name -eq 'token_embd.weight' | ForEach-Object ([scriptblock]::Create($Column))",
            ("Model", ModelFiles.Stories), ("Column", shape));

        Assert.Equal("64 x 512", result.Single<string>());
    }

    [Fact]
    public void Metadata_view_summarizes_the_vocabulary_instead_of_dumping_it()
    {
        var value = FindScript("QuantPS.Gguf.GgufMetadataEntry", "TableControl", "Value");
        var tiny = ModelFiles.WriteTiny(session.TempPath("vocab.gguf"));

        var result = session.Run(
            "Get-GgufInfo $Tiny -Metadata | Where-Object Key -eq 'tokenizer.ggml.tokens' | ForEach-Object ([scriptblock]::Create($Column))",
            ("Tiny", tiny), ("Column", value));

        var text = result.Single<string>();
        Assert.Contains("1000", text);
        Assert.True(text.Length < 120, "the vocabulary was dumped: " + text);
    }

    [Fact]
    public void Default_views_render_human_units_shapes_and_summaries()
    {
        var tiny = ModelFiles.WriteTiny(session.TempPath("render.gguf"));
        var broken = ModelFiles.WriteTruncated(session.TempPath("render-broken.gguf"));

        var summary = session.Render("Get-GgufInfo $Model | Out-Default", ("Model", ModelFiles.Stories));
        var tensors = session.Render("Get-GgufInfo $Model -Tensor | Where-Object Name -eq 'token_embd.weight' | Out-Default", ("Model", ModelFiles.Stories));
        var metadata = session.Render("Get-GgufInfo $Tiny -Metadata | Out-Default", ("Tiny", tiny));
        var findings = session.Render("Test-Gguf $Broken | Out-Default", ("Broken", broken));

        Assert.Contains("stories260K.gguf", summary);
        Assert.Contains("1.13 MiB", summary);
        Assert.Contains("292.80 K", summary);
        Assert.Contains("64 x 512", tensors);
        Assert.Contains("128.00 KiB", tensors);
        Assert.Contains("[String × 1000: \"tok0\"", metadata);
        Assert.DoesNotContain("tok999", metadata);
        Assert.Contains("render-broken.gguf", findings.Replace("\n", string.Empty));
        Assert.Contains("Truncated", findings);
    }

    [Fact]
    public void Get_GgufInfo_shows_a_mixture_of_experts()
    {
        var folder = Directory.CreateTempSubdirectory("quantps-moe-info-");
        try
        {
            var model = SyntheticExperts.Write(folder.FullName, SyntheticExperts.Qwen3Moe);
            using var withFormatList = new PowerShellSession(withPlatformModules: true);
            var result = withFormatList.Run("Get-GgufInfo $Model | Format-List | Out-String -Width 200", ("Model", model));

            Assert.Empty(result.Errors);
            var text = string.Concat(result.Output.Select(o => o.ToString()));
            Assert.Matches(@"Experts\s*: 3 of 8 per token, [0-9.]+ M active parameters", text);
            var dense = withFormatList.Run("Get-GgufInfo $Model | Format-List | Out-String -Width 200", ("Model", ModelFiles.Stories));
            Assert.DoesNotContain("Experts", string.Concat(dense.Output.Select(o => o.ToString())));
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    [Theory]
    [InlineData("Get-GgufInfo")]
    [InlineData("Test-Gguf")]
    public void Cmdlets_have_help_with_synopsis_parameters_and_examples(string command)
    {
        var help = session.Help(command);
        var synopsis = help.Synopsis;
        Assert.DoesNotContain(command + " ", synopsis); // auto-generated help repeats the syntax as its synopsis
        Assert.True(help.ExampleCount >= 2, "fewer than two examples");
        var parameters = help.Parameters;
        Assert.Contains("Path", parameters);
        Assert.Contains("LiteralPath", parameters);
        Assert.Contains("Uri", parameters);
    }

    [Fact]
    public void About_topic_lists_every_ErrorId_the_cmdlets_use()
    {
        var about = File.ReadAllText(Path.Combine(session.ModuleFolder, "en-US", "about_QuantPS.help.txt"));

        foreach (var id in new[] { "GgufFileNotFound", "GgufInvalidMagic", "GgufTruncated", "GgufUnsupportedVersion", "GgufIoError", "GgufRemoteError", "GgufInvalidArgument" })
        {
            Assert.Contains(id, about);
        }
    }

    private string FindScript(string type, string control, string label)
    {
        var view = Views.Descendants("View").Single(v => v.Element("ViewSelectedBy")!.Element("TypeName")!.Value == type && v.Element(control) is not null);
        var labels = view.Descendants(control == "TableControl" ? "TableColumnHeader" : "ListItem").Select(h => h.Element("Label")?.Value).ToList();
        var items = view.Descendants(control == "TableControl" ? "TableColumnItem" : "ListItem").ToList();
        return items[labels.IndexOf(label)].Element("ScriptBlock")!.Value;
    }
}
