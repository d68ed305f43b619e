#Requires -Version 7.4
# Pester 5 tests for Invoke-LocalLlm, Open-LlmModel and Close-LlmModel on stories260K: llama.cpp's
# greedy texts, streaming, seeds, chat templates, handles and ErrorIds.
# Run: ./build.ps1 -Test, or after a build: Invoke-Pester ./tests/pester

BeforeDiscovery {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    $noStories = -not (Find-SharedFile 'models/tinyllamas-stories260K/stories260K.gguf')
    $noGolden = -not (Find-SharedFile 'golden/logits/stories260K-F32/p0_empty.gen_text.txt')
}

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    Import-QuantPSModule
    $stories = Find-SharedFile 'models/tinyllamas-stories260K/stories260K.gguf'

    function Get-GoldenText([string] $Prompt) {
        [System.IO.File]::ReadAllText((Find-SharedFile "golden/logits/stories260K-F32/$Prompt.gen_text.txt"))
    }

    function Get-PromptText([string] $Prompt) {
        [System.IO.File]::ReadAllText((Find-SharedFile "golden/text/prompts/$Prompt.txt"))
    }
}

Describe 'Invoke-LocalLlm' {
    Context 'stories260K from ../shared (skipped without it)' -Skip:($noStories -or $noGolden) {
        It 'greedy from BOS alone gives llama.cpp''s 48 tokens' {
            $r = Invoke-LocalLlm -Model $stories -Temperature 0 -MaxTokens 48
            $r | Should -BeOfType ([QuantPS.Inference.Generation.LocalLlmResult])
            $r.Text | Should -BeExactly (Get-GoldenText 'p0_empty')
            $r.GeneratedTokens | Should -Be 48
            $r.StopReason | Should -Be 'MaxTokens'
        }

        It 'answers each piped prompt as llama.cpp does (<Prompt>)' -TestCases @(
            @{ Prompt = 'p1_short'; Tokens = 22 }
            @{ Prompt = 'p2_paragraph'; Tokens = 168 }
        ) {
            $r = Get-PromptText $Prompt | Invoke-LocalLlm -Model $stories -Temperature 0 -MaxTokens 48
            $r.PromptTokens | Should -Be $Tokens
            $r.Text | Should -BeExactly (Get-GoldenText $Prompt)
        }

        It 'gives one result per piped prompt, each naming its prompt' {
            $results = @('Tom went', 'The cat') | Invoke-LocalLlm -Model $stories -Temperature 0 -MaxTokens 8
            $results.Count | Should -Be 2
            $results.Prompt | Should -Be @('Tom went', 'The cat')
            $results.GeneratedTokens | Should -Be @(8, 8)
        }

        It 'ends the text before a -Stop string' {
            $r = Invoke-LocalLlm -Model $stories -Temperature 0 -MaxTokens 48 -Stop 'Lily'
            $r.Text | Should -BeExactly ' Once upon a time, there was a little girl named '
            $r.StopReason | Should -Be 'StopString'
        }

        It 'gives the same greedy text on <Threads> thread(s) with a <Cache> KV cache' -TestCases @(
            @{ Threads = 1; Cache = 'F16' }
            @{ Threads = 2; Cache = 'F16' }
            @{ Threads = 2; Cache = 'F32' }
        ) {
            $r = Invoke-LocalLlm -Model $stories -Temperature 0 -MaxTokens 48 -Threads $Threads -KvCacheType $Cache
            $r.Text | Should -BeExactly (Get-GoldenText 'p0_empty')
        }

        It 'stops cleanly when the context is full (-IgnoreEos)' {
            $r = Invoke-LocalLlm 'Once upon a time' -Model $stories -Temperature 0 -ContextLength 32 -IgnoreEos
            $r.StopReason | Should -Be 'ContextFull'
            # Every cell used, then the token sampled from the last position's logits (it needs no cell of its own).
            $r.PromptTokens + $r.GeneratedTokens | Should -Be 33
        }

        It 'goes on past a full context with -ContextShift, as llama-completion --context-shift' {
            $r = Invoke-LocalLlm 'Once upon a time' -Model $stories -Temperature 0 -ContextLength 256 -MaxTokens 700 -IgnoreEos -ContextShift
            $r.GeneratedTokens | Should -Be 700
            $r.StopReason | Should -Be 'MaxTokens'
            # llama-completion's text for these settings (see tests/QuantPS.Tests/Inference/Data/README.md)
            $expected = Join-Path (Get-QuantPSRepoRoot) 'tests/QuantPS.Tests/Inference/Data/context-shift/stories260K.once-upon-a-time.ctx256.n700.txt'
            $r.Text | Should -BeExactly ([System.IO.File]::ReadAllText($expected))
        }

        It 'reports its speeds and durations' {
            $r = Invoke-LocalLlm 'Once upon a time' -Model $stories -Temperature 0 -MaxTokens 8
            $r.PromptTokensPerSecond | Should -BeGreaterThan 0
            $r.TokensPerSecond | Should -BeGreaterThan 0
            $r.GenerationDuration | Should -BeOfType ([timespan])
            $r.TokenIds.Count | Should -Be 8
            $r.Model | Should -Be (Open-LlmModel $stories | ForEach-Object { try { $_.Name } finally { $_ | Close-LlmModel } })
        }

        It '-Stream writes the pieces, then the result' {
            $out = @(Invoke-LocalLlm 'Once upon a time' -Model $stories -Temperature 0 -MaxTokens 16 -Stream)
            $out[-1] | Should -BeOfType ([QuantPS.Inference.Generation.LocalLlmResult])
            -join $out[0..($out.Count - 2)] | Should -BeExactly $out[-1].Text
        }

        It 'replays the same text for the same -Seed' {
            $a = Invoke-LocalLlm 'The dog' -Model $stories -MaxTokens 24 -Seed 7
            $b = Invoke-LocalLlm 'The dog' -Model $stories -MaxTokens 24 -Seed 7
            $b.Text | Should -BeExactly $a.Text
            $a.Seed | Should -Be 7
        }

        It 'formats -Messages and -SystemPrompt with the chat template (chatml when the model has none)' {
            $r = Invoke-LocalLlm -Model $stories -Messages @{ role = 'user'; content = 'Hi' } -SystemPrompt 'Be brief.' -MaxTokens 2
            $r.Prompt | Should -BeExactly "<|im_start|>system`nBe brief.<|im_end|>`n<|im_start|>user`nHi<|im_end|>`n<|im_start|>assistant`n"
        }

        It 'keeps a model open across calls until Close-LlmModel' {
            $m = Open-LlmModel $stories
            try {
                $m.Architecture | Should -Be 'llama'
                (Invoke-LocalLlm 'Tom' -Model $m -Temperature 0 -MaxTokens 5).GeneratedTokens | Should -Be 5
            }
            finally {
                $m | Close-LlmModel
            }

            $m.IsOpen | Should -BeFalse
            { Invoke-LocalLlm 'Tom' -Model $m -ErrorAction Stop } | Should -Throw -ErrorId 'LlmModelClosed*'
        }

        It 'gives <ErrorId> for <Case>' -TestCases @(
            @{ Case = 'a prompt longer than the context'; Arguments = @{ Prompt = ('once upon a time ' * 10); ContextLength = 16 }; ErrorId = 'LlmContextFull*' }
            @{ Case = 'an unknown chat template'; Arguments = @{ Prompt = 'x'; ChatTemplate = 'no-such-template' }; ErrorId = 'ChatTemplateUnknownName*' }
        ) {
            { Invoke-LocalLlm -Model $stories @Arguments -ErrorAction Stop } | Should -Throw -ErrorId $ErrorId
        }

        It 'completes -ChatTemplate on Tab' {
            $line = 'Invoke-LocalLlm x -Model m.gguf -ChatTemplate llama'
            (TabExpansion2 -inputScript $line -cursorColumn $line.Length).CompletionMatches.CompletionText | Should -Contain 'llama3'
        }
    }

    It 'refuses a model file that does not exist' {
        { Invoke-LocalLlm 'x' -Model (Join-Path $TestDrive 'missing.gguf') -ErrorAction Stop } | Should -Throw -ErrorId 'GgufFileNotFound*'
    }
}
