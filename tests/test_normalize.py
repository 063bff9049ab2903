"""Display text stays as written; the matching form folds every spelling variant."""

from hypothesis import given, settings, strategies as st

from streams.text.normalize import arabic_letters, clean_display, fold, fold_phrase, match_text


def test_punctuation_glued_to_a_number_is_put_back_after_it():
    assert clean_display("والتي بدأت في عام .2022") == "والتي بدأت في عام 2022."
    assert clean_display("بدأت في عام .2022\nوزارت") == "بدأت في عام 2022.\nوزارت"


def test_display_keeps_letters_and_drops_invisible_characters():
    text = "\u200fكوريا\u200b الشمالية\u00a0اليوم\u202b"
    assert clean_display(text) == "كوريا الشمالية اليوم"
    # original letters are not folded for display
    assert clean_display("أوكرانيا إيران آلاف") == "أوكرانيا إيران آلاف"


def test_persian_and_urdu_letter_variants_fold_to_arabic():
    assert fold("کوریا الشمالیة") == fold("كوريا الشمالية")
    assert fold("ک") == "ك"
    assert fold("ی") == "ي"
    assert fold("ە") == fold("ه")
    assert fold("ۀ") == fold("ه")


def test_alef_variants_ta_marbuta_and_alef_maksura_fold():
    assert fold("أ") == fold("إ") == fold("آ") == fold("ٱ") == "ا"
    assert fold("الشمالية") == fold("الشماليه")
    assert fold("مصطفى") == fold("مصطفي")


def test_tatweel_diacritics_and_bidi_controls_are_ignored_for_matching():
    assert fold("لـــتشوي") == fold("لتشوي")
    assert fold("أَيْضًا") == fold("ايضا")
    assert fold("\u202bروسيا\u202c\u200e") == fold("روسيا")


def test_presentation_forms_fold_to_letters():
    assert fold("ﻻ") == fold("لا")
    assert fold("ﻷ") == fold("لا")
    assert fold("ﺑﻮﺗﻴﻦ") == fold("بوتين")


def test_digits_and_latin_case_fold():
    assert fold("٢٠٢٢") == "2022"
    assert fold("۲۰۲۲") == "2022"
    assert fold("Reuters") == "reuters"


def test_fold_phrase_meets_hyphenated_and_spaced_names():
    assert fold_phrase("كيم جونج-أون") == fold_phrase("كيم  جونج اون")


def test_arabic_letters_only_rewrites_persian_shapes():
    assert arabic_letters("کوریا الشمالیة") == "كوريا الشمالية"
    # hamza, ta marbuta and vowels are kept: this is display text
    assert arabic_letters("أوكرانيا الجنوبيةً") == "أوكرانيا الجنوبيةً"


def test_a_match_in_folded_text_maps_back_to_the_original_spelling():
    display = clean_display("ووقع بوتين وزعيم كـوريا الشماليَّة کیم")
    folded = match_text(display)
    start = folded.text.index(fold("كوريا الشمالية"))
    a, b = folded.to_display(start, start + len(fold("كوريا الشمالية")))
    assert display[a:b] == "كـوريا الشماليَّة"


def test_expanded_presentation_form_maps_to_its_single_character():
    display = "ﻻ شيء"
    folded = match_text(display)
    assert folded.text.startswith("لا")
    assert folded.to_display(0, 2) == (0, 1)
    assert folded.to_display(1, 2) == (0, 1)


# Text with plenty of Arabic, marks, presentation forms and invisible characters.
_arabicish = st.text(
    alphabet=st.one_of(
        st.characters(min_codepoint=0x0600, max_codepoint=0x06FF),
        st.characters(min_codepoint=0xFB50, max_codepoint=0xFEFC),
        st.sampled_from(list(" .,،-\n\u200b\u200f\u202b\u00a0\u0640٢2")),
    ),
    max_size=60,
)
_any_text = st.one_of(st.text(max_size=60), _arabicish)


@settings(max_examples=400, deadline=None)
@given(_any_text)
def test_fold_is_idempotent(text):
    assert fold(fold(text)) == fold(text)
    assert fold_phrase(fold_phrase(text)) == fold_phrase(text)


@settings(max_examples=400, deadline=None)
@given(_any_text)
def test_match_text_is_idempotent_on_its_own_output(text):
    for display in (text, clean_display(text)):
        once = match_text(display).text
        assert match_text(once).text == once


@settings(max_examples=300, deadline=None)
@given(_any_text, st.data())
def test_every_match_span_maps_to_valid_display_offsets(text, data):
    display = clean_display(text)
    folded = match_text(display)
    n = len(folded.text)
    start = data.draw(st.integers(0, n))
    end = data.draw(st.integers(start, n))
    a, b = folded.to_display(start, end)
    assert 0 <= a <= b <= len(display)
    if end > start:
        # the display slice holds everything the folded span was made from
        assert folded.text[start:end] in match_text(display[a:b]).text


_every_plane = st.one_of(
    _any_text,
    st.text(st.characters(min_codepoint=0x10000, max_codepoint=0x10FFFF), max_size=10),
    st.text(st.characters(blacklist_categories=()), max_size=60),
)


@settings(max_examples=500, deadline=None)
@given(_every_plane)
def test_folding_a_text_is_folding_each_of_its_characters(text):
    """The regex shortcuts find exactly the characters that folding changes."""
    from streams.text.normalize import _fold_char

    expected = "".join(_fold_char(ch) for ch in text)
    folded = match_text(text)
    assert folded.text == expected
    assert len(folded.offsets) == len(expected) + 1
    assert [text[i] for i in folded.offsets[:-1]] == [ch for ch in text for _ in _fold_char(ch)]


@settings(max_examples=300, deadline=None)
@given(_every_plane)
def test_display_cleanup_drops_invisibles_and_plains_spaces_only(text):
    invisible = set("\u00ad\u061c\u180e\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e"
                    "\u2060\u2061\u2062\u2063\u2064\u2066\u2067\u2068\u2069\ufeff")
    odd_spaces = set("\u00a0\u2007\u202f\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2008\u2009\u200a\u3000")
    cleaned = clean_display(text)
    assert not (set(cleaned) & (invisible | odd_spaces))
    kept = "".join(" " if ch in odd_spaces else ch for ch in text if ch not in invisible)
    assert cleaned == clean_display(kept)
