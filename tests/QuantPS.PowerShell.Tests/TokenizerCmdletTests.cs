using System.Management.Automation;
using QuantPS.Inference.Tokenizers;
using QuantPS.TestSupport;

namespace QuantPS.PowerShell.Tests;

/// <summary>ConvertTo-LlmToken and ConvertFrom-LlmToken as scripts use them, on llama.cpp's vocabularies.</summary>
public sealed class TokenizerCmdletTests(PowerShellSession session) : IClassFixture<PowerShellSession>
{
    private static string Vocab(string name) => SharedData.File($"models/llama.cpp-vocab/ggml-vocab-{name}.gguf");

    [Fact]
    public void Text_becomes_llama_cpps_tokens_with_their_pieces()
    {
        var result = session.Run("ConvertTo-LlmToken 'Hello world' -Model $Model -AddSpecial", ("Model", Vocab("llama-spm")));

        Assert.Empty(result.Errors);
        var tokens = result.Objects<LlmToken>();
        Assert.Equal([1, 15043, 3186], tokens.Select(t => t.Id));
        Assert.Equal(["<s>", " Hello", " world"], tokens.Select(t => t.Text));
        Assert.Equal([true, false, false], tokens.Select(t => t.IsSpecial));
        Assert.Equal([0, 1, 2], tokens.Select(t => t.Index));
    }

    [Fact]
    public void Special_tokens_are_added_and_parsed_only_on_request_as_in_llama_tokenize()
    {
        var result = session.Run(
            """
            (ConvertTo-LlmToken 'Hi<|endoftext|>' -Model $Model -IdOnly) -join ' '
            (ConvertTo-LlmToken 'Hi<|endoftext|>' -Model $Model -IdOnly -ParseSpecial) -join ' '
            """,
            ("Model", Vocab("gpt-2")));

        Assert.Empty(result.Errors);
        Assert.Equal(["17250 27 91 437 1659 5239 91 29", "17250 50256"], result.Output.Select(o => (string)o.BaseObject));
    }

    [Fact]
    public void Texts_from_the_pipeline_each_get_their_own_sequence_and_the_model_loads_once()
    {
        var result = session.Run(
            "'Hello', 'world', '' | ConvertTo-LlmToken -Model $Model -Verbose 4>&1",
            ("Model", Vocab("gpt-2")));

        Assert.Empty(result.Errors);
        Assert.Single(result.Output, o => o.BaseObject is VerboseRecord v && v.Message.StartsWith("Reading the vocabulary", StringComparison.Ordinal));
        var tokens = result.Output.Select(o => o.BaseObject).OfType<LlmToken>().ToList();
        Assert.Equal([15496, 6894], tokens.Select(t => t.Id));
        Assert.All(tokens, t => Assert.Equal(0, t.Index));
    }

    [Fact]
    public void Tokens_convert_back_to_the_text_through_the_Id_property()
    {
        const string Text = "Hello, y'all! How are you 😁 ?我想在apple工作1314151天～";
        var result = session.Run(
            "$Text | ConvertTo-LlmToken -Model $Model | ConvertFrom-LlmToken -Model $Model",
            ("Model", Vocab("llama-spm")), ("Text", Text));

        Assert.Equal(Text, result.Single<string>());
    }

    [Fact]
    public void Ids_from_the_pipeline_form_one_sequence_so_byte_tokens_join_into_characters()
    {
        // 🦙 has no token in Llama 2's vocabulary: four byte tokens spell it.
        var result = session.Run(
            """
            $ids = ConvertTo-LlmToken '🦙' -Model $Model -IdOnly
            @($ids).Count
            $ids | ConvertFrom-LlmToken -Model $Model
            """,
            ("Model", Vocab("llama-spm")));

        Assert.Empty(result.Errors);
        Assert.Equal(5, (int)result.Output[0].BaseObject); // ▁ and 4 bytes
        Assert.Equal("🦙", result.Output[1].BaseObject);
    }

    [Fact]
    public void Special_tokens_can_be_removed_or_skipped_when_decoding()
    {
        var result = session.Run(
            """
            ConvertFrom-LlmToken -Id 1, 15043, 3186, 2 -Model $Model
            ConvertFrom-LlmToken -Id 1, 15043, 3186, 2 -Model $Model -SkipSpecial
            ConvertFrom-LlmToken -Id 1, 15043, 3186, 2 -Model $Model -RemoveSpecial
            """,
            ("Model", Vocab("llama-spm")));

        Assert.Empty(result.Errors);
        Assert.Equal(["<s> Hello world</s>", " Hello world", " Hello world</s>"], result.Output.Select(o => (string)o.BaseObject));
    }

    [Fact]
    public void An_unknown_id_is_a_non_terminating_error_and_the_rest_is_decoded()
    {
        var result = session.Run("15043, 99999, 3186 | ConvertFrom-LlmToken -Model $Model", ("Model", Vocab("llama-spm")));

        Assert.Equal("Hello world", Assert.Single(result.Output).BaseObject);
        var error = Assert.Single(result.Errors);
        Assert.Equal("TokenizerInvalidTokenId,QuantPS.PowerShell.ConvertFromLlmTokenCommand", error.FullyQualifiedErrorId);
        Assert.Equal(ErrorCategory.InvalidArgument, error.CategoryInfo.Category);
        Assert.Equal(99999, error.TargetObject);
    }

    [Fact]
    public void A_missing_model_is_a_terminating_GgufFileNotFound()
    {
        var result = session.Run(
            """
            try { 'x' | ConvertTo-LlmToken -Model $Model -ErrorAction Stop }
            catch { $_.FullyQualifiedErrorId; $_.CategoryInfo.Category.ToString() }
            """,
            ("Model", session.TempPath("nowhere.gguf")));

        Assert.Equal(["GgufFileNotFound,QuantPS.PowerShell.ConvertToLlmTokenCommand", "ObjectNotFound"], result.Output.Select(o => (string)o.BaseObject));
    }

    [Fact]
    public void A_model_without_a_vocabulary_is_a_TokenizerMissingVocabulary()
    {
        var path = ModelFiles.WriteSplit(session.TempFolder, "novocab")[0];

        var result = session.Run("try { ConvertTo-LlmToken 'x' -Model $Model } catch { $_ }", ("Model", path));

        var error = (ErrorRecord)Assert.Single(result.Output).BaseObject;
        Assert.Equal("TokenizerMissingVocabulary,QuantPS.PowerShell.ConvertToLlmTokenCommand", error.FullyQualifiedErrorId);
        Assert.Equal(ErrorCategory.InvalidData, error.CategoryInfo.Category);
        Assert.Contains("tokenizer.ggml.model", error.Exception.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_bos_the_vocabulary_lacks_is_an_error_per_text_that_says_what_to_do()
    {
        // A BPE vocabulary that asks for BOS but whose default BOS id (11) is beyond its 3 tokens.
        var path = session.TempPath("no-bos.gguf");
        QuantPS.Gguf.GgufWriter.Write(path,
        [
            QuantPS.Gguf.GgufMetadataEntry.Of("general.architecture", "gpt2"),
            QuantPS.Gguf.GgufMetadataEntry.Of("tokenizer.ggml.model", "gpt2"),
            QuantPS.Gguf.GgufMetadataEntry.Of("tokenizer.ggml.pre", "gpt-2"),
            QuantPS.Gguf.GgufMetadataEntry.Of("tokenizer.ggml.add_bos_token", true),
            QuantPS.Gguf.GgufMetadataEntry.Of("tokenizer.ggml.tokens", new QuantPS.Gguf.GgufArray(QuantPS.Gguf.GgufValueType.String, new[] { "a", "b", "ab" })),
            QuantPS.Gguf.GgufMetadataEntry.Of("tokenizer.ggml.merges", new QuantPS.Gguf.GgufArray(QuantPS.Gguf.GgufValueType.String, new[] { "a b" })),
        ], [], _ => ReadOnlyMemory<byte>.Empty, overwrite: true);

        var result = session.Run("'ab', 'ba' | ConvertTo-LlmToken -Model $Model -AddSpecial", ("Model", path));

        Assert.Empty(result.Output);
        Assert.Equal(2, result.Errors.Count);
        Assert.All(result.Errors, e => Assert.StartsWith("TokenizerMissingSpecialToken,", e.FullyQualifiedErrorId, StringComparison.Ordinal));
        Assert.Contains("without -AddSpecial", result.Errors[0].Exception.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_token_view_quotes_text_and_shows_newlines()
    {
        var output = session.Render("ConvertTo-LlmToken \"Hi`n\" -Model $Model | Out-Default", ("Model", Vocab("gpt-2")));

        Assert.Contains("Index", output, StringComparison.Ordinal);
        Assert.Contains("IsSpecial", output, StringComparison.Ordinal);
        Assert.Contains("'Hi'", output, StringComparison.Ordinal);
        Assert.Contains("'\\n'", output, StringComparison.Ordinal);
    }

    [Fact]
    public void Every_column_of_the_token_views_works_on_real_output()
    {
        var views = System.Xml.Linq.XDocument.Load(Path.Combine(session.ModuleFolder, "QuantPS.format.ps1xml")).Descendants("View")
            .Where(v => v.Element("ViewSelectedBy")!.Element("TypeName")!.Value == typeof(LlmToken).FullName)
            .ToList();

        Assert.Equal(2, views.Count); // a table and a list
        foreach (var item in views.SelectMany(v => v.Descendants()).Where(e => e.Name == "TableColumnItem" || e.Name == "ListItem"))
        {
            var property = item.Element("PropertyName")?.Value;
            var script = item.Element("ScriptBlock")?.Value ?? $"$_.PSObject.Properties['{property}'] -ne $null";
            var result = session.Run(
                "ConvertTo-LlmToken 'Hello' -Model $Model -AddSpecial | ForEach-Object ([scriptblock]::Create($Column))",
                ("Model", Vocab("llama-spm")), ("Column", script));

            Assert.True(result.Errors.Count == 0, $"'{script}' failed: {string.Join("; ", result.Errors)}");
            Assert.Equal(2, result.Output.Count);
        }
    }

    [Theory]
    [InlineData("ConvertTo-LlmToken", "Text")]
    [InlineData("ConvertFrom-LlmToken", "Id")]
    public void Cmdlets_have_help_with_synopsis_parameters_and_examples(string command, string inputParameter)
    {
        var help = session.Help(command);
        Assert.DoesNotContain(command + " ", help.Synopsis);
        Assert.True(help.ExampleCount >= 3, "fewer than three examples");
        var parameters = help.Parameters;
        Assert.Contains("Model", parameters);
        Assert.Contains(inputParameter, parameters);
    }

    [Fact]
    public void Hashtables_convert_to_chat_messages_for_the_engines_templates()
    {
        var result = session.Run(
            """
            $null = ConvertTo-LlmToken 'x' -Model $Model  # loads the engine assembly
            $messages = [QuantPS.Inference.Chat.ChatMessage[]]@(@{ role = 'system'; content = 'Be brief.' }, @{ role = 'user'; content = 'Hi' })
            [QuantPS.Inference.Chat.ChatTemplate]::FromName('chatml').Format($messages, $true)
            """,
            ("Model", ModelFiles.Stories));

        Assert.Equal("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n", result.Single<string>());
    }

    [Fact]
    public void The_module_exports_the_tokenizer_cmdlets()
    {
        Assert.Contains("ConvertTo-LlmToken", session.Module.ExportedCmdlets.Keys);
        Assert.Contains("ConvertFrom-LlmToken", session.Module.ExportedCmdlets.Keys);
    }
}
