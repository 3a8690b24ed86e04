"""The complexity analyzer's lexicon: word lists and how a text's words are looked up in them.

Each entry of :data:`TABLE` names a class of words (an action verb, a dependency marker, a
domain ``d:<name>``, a kind of tool ``t:<name>``, ...) and holds the words of that class in
English, German, French and Spanish, with thinner lists for Russian, Chinese and Japanese.

Words are matched as whole tokens after Unicode casefolding and accent removal (:func:`fold`),
the entries folded the same way. "a_b" is a phrase of words; "stem*" is a deliberate stem
(``calcul*`` for *calcule, calculer, calcular*), "*end" the last part of a German compound
("*kosten": Umzugskosten). Chinese and Japanese have no spaces between words, so their entries
are matched inside runs of CJK text.
"""

# The lists hold Cyrillic, CJK and full-width characters on purpose.
# ruff: noqa: RUF001

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Final

CJK: Final = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
CJK_CHAR: Final = re.compile(f"[{CJK}]")
EMPTY: Final[frozenset[str]] = frozenset()


def fold(word: str) -> str:
    """Casefolded, accents removed: how both the text and the lexicons are compared."""
    word = word.casefold()
    if word.isascii():
        return word
    decomposed = unicodedata.normalize("NFD", word)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


class Lexicon:
    """Word, stem, phrase and CJK entries, each with the tags of every table naming it."""

    def __init__(self, table: Mapping[str, str]) -> None:
        words: dict[str, set[str]] = {}
        stems: dict[str, set[str]] = {}
        ends: dict[str, set[str]] = {}
        phrases: dict[str, dict[tuple[str, ...], set[str]]] = {}
        cjk: dict[str, set[str]] = {}
        for tags, entries in table.items():
            for entry in entries.split():
                if CJK_CHAR.search(entry):
                    target = cjk.setdefault(fold(entry), set())
                elif "_" in entry:
                    parts = tuple(fold(p) for p in entry.split("_"))
                    target = phrases.setdefault(parts[0], {}).setdefault(parts, set())
                elif entry.endswith("*"):
                    target = stems.setdefault(fold(entry[:-1]), set())
                elif entry.startswith("*"):
                    target = ends.setdefault(fold(entry[1:]), set())
                else:
                    target = words.setdefault(fold(entry), set())
                target.update(tags.split())
        self._words = {w: frozenset(t) for w, t in words.items()}
        self._stems = {s: frozenset(t) for s, t in stems.items()}
        self._stem_lengths = sorted({len(s) for s in stems})
        self._ends = {e: frozenset(t) for e, t in ends.items()}
        self._end_lengths = sorted({len(e) for e in ends})
        self._phrases = {
            first: sorted(((p, frozenset(t)) for p, t in found.items()), key=lambda x: -len(x[0]))
            for first, found in phrases.items()
        }
        self._cjk = [(e, frozenset(t)) for e, t in cjk.items()]

    def word(self, norm: str, cjk: bool) -> frozenset[str]:
        if cjk:
            found = [t for entry, t in self._cjk if entry in norm]
            return frozenset().union(*found) if found else EMPTY
        tags = self._words.get(norm, EMPTY)
        for n in self._stem_lengths:
            if n > len(norm):
                break
            more = self._stems.get(norm[:n])
            if more is not None:
                tags = tags | more
        for n in self._end_lengths:
            if n + 3 > len(norm):  # a compound: at least three letters before the last part
                break
            more = self._ends.get(norm[-n:])
            if more is not None:
                tags = tags | more
        return tags

    def cjk_lead(self, norm: str, tag: str, within: int) -> bool:
        """Whether an entry tagged ``tag`` starts within the first ``within`` characters."""
        return any(tag in t and 0 <= norm.find(e) < within for e, t in self._cjk)

    def phrase(self, norms: Sequence[str], i: int) -> tuple[int, frozenset[str]]:
        """The longest phrase starting at token ``i``: its length in tokens and its tags."""
        for parts, tags in self._phrases.get(norms[i], ()):
            if tuple(norms[i : i + len(parts)]) == parts:
                return len(parts), tags
        return 0, EMPTY


TABLE: Final[Mapping[str, str]] = {
    "verb": """
        add analyse analyze answer book build buy calculate call check choose clean collect compare
        compose compute convert correct count create debug decide define describe design
        determine divide do draft draw edit estimate evaluate explain extract fetch figure_out
        find_out fill find fix format gather generate get give google help identify implement
        list load look_up look make measure multiply name organise organize outline pack paraphrase
        pick plan plot prepare proofread propose provide put rank read recall recommend
        refactor remember remind rename reply research respond retrieve review rewrite run save
        schedule search send show simplify sketch solve sort spell split store subtract suggest
        summarise summarize tell test translate update use verify visualise visualize work_out
        write audit report
        addier* analysier* beantworte bereite berechn* bestimm* buche check erinnere erinner*
        ermittle erklar* erstell* fasse finde finden formulier* gib hilf korrigier* lade mach
        mache merk merke merken multiplizier* nenne notier* organisier* plane planen pruf*
        recherchier* rechne rechnen ausrechn* umrechn* sag schatze schick* schreib* sende
        speichere subtrahier* suche suchen teile uberprufe ubersetz* vergleich* verfass*
        wandle zeig* entwirf entwerf* dividier* konvertier* analysiere liste verteil* runde
        additionne* aide* analyse calcul* cherche* choisis compare* convertis corrige* cree
        donne* dis ecri* ecris enumere* envoie* estime* evalue* explique* fais genere* indique*
        lis montre* multiplie* organise* planifie* prepare propose rappelle* redig* reserve*
        resume* retiens souviens soustrais tradu* traduis trouve* verifie* divise* arrondi*
        acuerdate analiza anade anota averigua* ayuda* busca* calcula compara* comprueba
        consulta conviert* convierte corrige crea dame dime divide divid* elige encuentra*
        enumera envia escrib* estima evalua explica* genera haz indica investiga* muestra
        multiplica* organiza* planifica* prepara propon recuerda* redacta* resta resum* revisa
        suma* traduce verifica carga redondea*
        переведи посчитай вычисли найди напиши объясни сравни запомни напомни составь узнай
        раздели умножь сложи сделай дай скажи проверь
        翻译 计算 查 搜索 写 总结 解释 比较 记住 提醒 告诉 找 列出
        調べ 計算 翻訳 書い 書く まとめ 教え 比較 説明 覚え 探し
    """,
    "request": """
        need needs want wish would_like d_like brauche mochte veux voudrais besoin aimerais
        necesito quiero quisiera gustaria нужно хочу 需要 想要
    """,
    "question": """
        what whats which who whom whose where when why how
        was wer wen wem wessen wo wann warum wieso weshalb wie welche welcher welches welchen
        quel quelle quels quelles qui quoi quand pourquoi comment combien
        cual cuales cuanto cuanta cuantos cuantas quien quienes por_que
        что кто где когда почему как какой сколько
        什么 谁 哪 为什么 怎么 多少 何 誰 どこ いつ なぜ
    """,
    "conj": """
        and also plus as_well_as und sowie ausserdem zudem et aussi ainsi_que de_plus
        y e ademas tambien asi_como и а_также также 并 并且 另外 还有 同时 そして
    """,
    "dep": """
        then afterwards afterward after_that after_this subsequently finally lastly
        using_the_result using_that using_this using_it use_the_result with_the_result
        with_that with_this_result based_on from_the_result once_done once_you_have when_done
        dann danach anschliessend daraufhin nachher zuletzt schliesslich abschliessend
        im_anschluss mit_dem_ergebnis mit_diesem_ergebnis basierend_darauf ausgehend_davon
        puis ensuite apres_ca apres_cela apres_quoi enfin finalement avec_le_resultat
        avec_ce_resultat a_partir_du_resultat en_utilisant_le_resultat sur_cette_base
        luego despues a_continuacion finalmente por_ultimo con_el_resultado con_ese_resultado
        con_este_resultado usando_el_resultado a_partir_del_resultado basandote_en con_eso
        затем потом после_этого далее 然后 之后 接着 再 最后 それから その後 次に
    """,
    "seq": "first firstly zuerst erstens d_abord primero сначала 先 まず",
    "filler": """
        please pls kindly just now quickly can could would will you u let lets hey hi hello ok
        okay separately bitte mal doch noch kannst konntest wurdest du jetzt nun hallo separat
        getrennt s_il_vous_plait separement por_separado
        s_il_te_plait svp stp peux pourrais pouvez pourriez tu maintenant por_favor porfa
        puedes podrias podria ahora hola oye пожалуйста можешь 请 帮我 ください
    """,
    "backref": "it them es ihn sie его её их",
    "backref_any": """
        of_it of_that of_them from_it from_that davon daraus de_cela de_ca de_ella de_ello
        de_eso de_esto de_ellos de_ellas 它 其结果 それ
    """,
    "product": """
        result results summary answer output total amount translation explanation outcome
        response
        ergebnis ergebnisse zusammenfassung antwort ubersetzung summe betrag resultat
        resultats resume reponse somme montant traduction resultado resultados resumen
        respuesta suma cantidad importe traduccion результат
    """,
    "det": """
        the that this its those these das dem den die dieses diese diesen le la l ce cette son
        sa el ese esa este esta su
    """,
    "ask": """
        why explain compare comparison contrast difference differences versus vs
        pros_and_cons trade_offs tradeoffs warum wieso weshalb erklar* vergleich* unterschied*
        pourquoi expliqu* compare* comparaison difference* por_que explica* compara*
        comparacion diferencia* почему объясни сравни разница 为什么 解释 比较 区别 なぜ 説明
        比較 違い
    """,
    "lang": """
        english french german spanish italian japanese portuguese chinese russian swedish
        dutch polish arabic englisch* franzosisch* spanisch* italienisch* deutsch*
        japanisch* portugiesisch* chinesisch* russisch* anglais francais allemand espagnol
        italien japonais portugais chinois russe ingles frances aleman espanol italiano
        japones portugues chino ruso английский немецкий французский испанский
    """,
    "prep": "into in to ins auf nach en al a на",
    "link": """
        by to into in with from for as of on at and par pour en dans avec de du entre sur a al
        por con para ins auf durch mit von zu um als und в на по для и
    """,
    "unit": """
        km kilometer kilometers kilometre kilometres mile miles mi meter meters metre metres cm
        mm ft feet foot inch inches yard yards kg kilo kilos kilogram kilograms gram grams lb
        lbs pound pounds oz ounce ounces litre litres liter liters ml gallon gallons cup cups
        celsius fahrenheit kelvin usd eur gbp jpy chf dollar dollars euro euros yen
        meile meilen fuss zoll pfund tasse tassen grad kilometres pieds pied pouce pouces
        litre kilometro kilometros milla millas pie pies pulgada pulgadas libra libras litro
        litros dolar dolares фут футы футов км миль доллар доллары евро
    """,
    "d:math t:arithmetic": """
        calculate calcul* compute computation arithmetic sum average mean median percent
        percentage multiply multiplied divide divided subtract plus minus equation solve sqrt
        factorial area volume growth berechn* rechne rechnen ausrechn* summe durchschnitt*
        mittelwert prozent multiplizier* dividier* teile geteilt subtrahier* addier* gleichung
        flache somme moyenne pourcentage pour_cent multiplie* divise* soustrais additionne*
        equation aire suma sumar promedio porcentaje por_ciento multiplica* divide divid*
        resta ecuacion посчитай вычисли процент* умножь раздели сложи 计算 百分 乘 除 計算
    """,
    "d:language": """
        translate translat* translation spell spelling grammar plural synonym* pronounce
        pronunciation conjugate ubersetz* grammatik rechtschreibung aussprache tradu* traduis
        grammaire pluriel prononc* orthographe traduc* gramatica ortografia sinonimo* 翻译 翻訳
    """,
    "d:writing": """
        draft compose rewrite summar* essay email mail letter poem haiku tweet blog memo
        invitation announcement slides narrative outline story paraphrase proofread speech
        caption headline brief press_release verfass* entwirf entwerf* formulier* fasse
        zusammenfass* gedicht aufsatz pressemitteilung einladung kundigung folie* text texte
        redig* resum* lettre poeme courriel annonce article discours redact* carta poema correo
        tuit articulo nota_de_prensa informe invitacion discurso texto письмо 总结 まとめ
    """,
    "w:writing": "write schreib* ecri* ecris escrib* напиши 写 書",
    "d:research": """
        research look_up search find_out investigate who capital population history
        wikipedia fact facts source sources information opening_hours benchmark benchmarks
        weather news exchange_rate recherch* suche suchen heraus wer hauptstadt einwohner*
        bevolkerung geschichte wetter wechselkurs cherch* qui capitale histoire meteo
        taux_de_change busca* investig* averigu* quien quienes poblacion historia clima
        tipo_de_cambio узнай кто столиц* население погода 查 搜索 谁 首都 人口 天气 調べ 誰
        天気
    """,
    "w:research": "find finde finden trouve* encuentra* найди 找",
    "d:code": """
        code coding codebase python javascript typescript java rust golang sql function
        script scripts bug bugs debug api apis regex compile compiler deploy refactor
        repository repo git docker kubernetes html css loop algorithm deprecated unittest
        programming programmer stacktrace funktion skript quellcode programmier* fonction
        programmation funcion codigo programacion programar код функци* 代码 函数 编程 コード 関数
    """,
    "d:data": """
        data dataset datasets csv xlsx spreadsheet spreadsheets excel chart
        charts plot graph statistics stats rows columns column database databases visualise
        visualize dashboard daten datensatz tabelle diagramm statistik spalte* datenbank*
        donnees tableau graphique statistique* colonne* base_de_donnees datos tabla grafico
        *tabelle *daten *datei
        estadistica* columna* hoja_de_calculo base_de_datos данные таблиц* 数据 表格 データ
    """,
    "d:memory t:memory": """
        remember recall remind reminder forget memorize memorise i_told_you merk merke merken
        erinner* vergiss gedachtnis souviens rappelle* retiens oublie* recuerda* acuerdate
        olvides recordatorio memoriza* запомни напомни 记住 提醒 覚え
    """,
    "d:planning": """
        plan planning plans schedule organise organize organis* organiz* itinerary agenda
        budget budgets launch strategy campaign campaigns marketing competitor competitors
        pricing roadmap trip offsite event party wedding venue venues booking reservation
        meeting project invoice revenue sales goals milestones book plane planen planung
        kampagne* konkurrent* markteinfuhrung produkteinfuhrung reise umzug termin strategie
        veranstaltung umsatz kosten quartalsmeeting planifi* campagne* concurrent* lancement
        voyage reunion evenement fete mariage soutenance planific* presupuesto campana*
        competencia lanzamiento viaje boda estrategia ventas evento fiesta dinner diner cena
        abendessen menu menus shopping_list einkaufsliste liste_de_courses lista_de_la_compra
        план* бюджет 计划 预算 計画 予算 *plan *planung *budget *kosten *termin *reise
    """,
    "d:time": """
        date dates day days week weeks month months year years hour hours minute minutes time
        clock weekend sunrise sunset datum tag tage tagen woche wochen monat monate jahr jahre
        stunde stunden uhr uhrzeit wochenende jour jours semaine semaines mois ans annee annees
        heure heures fecha dia dias semana semanas meses ano anos hora horas *zeit *datum
        дата день дни
        неделя месяц год время 时间 日期 時間
    """,
    "d:time t:dates": """
        tomorrow today yesterday tonight calendar deadline weekday monday tuesday wednesday
        thursday friday saturday sunday what_time how_many_days morgen heute gestern
        ubermorgen kalender wochentag wie_spat montag dienstag mittwoch donnerstag freitag
        samstag sonntag demain aujourd calendrier quelle_heure lundi mardi mercredi jeudi
        vendredi samedi dimanche manana hoy ayer calendario que_hora lunes martes miercoles
        jueves viernes sabado domingo завтра сегодня вчера 明天 今天 昨天 明日 今日 昨日
    """,
    "month": """
        january february march april may june july august september october november december
        januar februar marz mai juni juli oktober dezember janvier fevrier mars avril juin
        juillet aout septembre octobre novembre decembre enero febrero marzo abril mayo junio
        julio agosto septiembre octubre noviembre diciembre
    """,
    "t:conversion": """
        convert conversion umrechn* konvertier* umwandeln wandle convertis convertir
        conversion conviert* convierte convertir
    """,
    "t:web": """
        search look_up google browse find_out research weather forecast news latest current
        exchange_rate opening_hours flight flights hotel hotels train_times stock_price suche
        suchen recherch* wetter vorhersage nachrichten aktuell* wechselkurs offnungszeiten
        flug fluge heraus cherch* meteo previsions actualites actuel* taux_de_change horaires
        vol vols busca* investiga* averigua* clima pronostico noticias actual tipo_de_cambio
        horario* vuelo* погода узнай 搜索 天气 天気
    """,
    "t:files": """
        file files attached attachment upload uploaded document pdf csv xlsx datei dateien
        anhang angehangt dokument hochgeladen fichier fichiers jointe document archivo
        archivos adjunto adjunta documento файл 文件 ファイル
    """,
}

LEXICON: Final = Lexicon(TABLE)
