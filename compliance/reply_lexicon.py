"""The lemmas the refusal patterns are written in (``refusals``). Lemmas, not spellings: one entry
covers every inflection («писать»: пишите, пиши, писать, писали…). Extending a pattern means adding
the dictionary form of a word to the right set here, and a labelled reply to tests/data/reply_corpus.tsv."""

from __future__ import annotations


def _set(words: str) -> frozenset[str]:
    return frozenset(words.split())


# Contacting us → them: negated («не пишите»), stopped («хватит спамить») or asked about («зачем вы пишете»).
SEND = _set(
    "писать написать присылать прислать слать послать посылать отправлять отправить рассылать беспокоить "
    "побеспокоить спамить заспамить звонить позвонить названивать тревожить донимать скидывать кидать "
    "надоедать писать строчить напоминать "
    "send text message msg contact email mail call write spam bother ping notify sms whatsapp"
)
# Getting our messages, refused only when wanted-not («не хочу получать»): «не получаю» is a complaint.
RECEIVE = _set("получать получить видеть читать receive get")
WANT = _set("хотеть желать надо нужно нужный want wish need")
# What a refusal is about: our messages and the lists that hold the number.
MAILING = _set(
    "рассылка сообщение смс смска эсэмэска уведомление оповещение реклама спам письмо предложение акция "
    "новость пуш спамить рассылать сообщенька месседж "
    "message messages text texts sms spam mailing newsletter notification promo promotion ad ads advert "
    "marketing offer offers email emails"
)
LISTS = _set(
    "рассылка список база контакт чат группа подписка list database mailing newsletter subscription"
)
# Things other than our messages a customer may ask not to send, stop, remove or refuse: the sentence
# is about an order, not about being contacted («Можно не присылать чек на почту?»).
OTHER = _set(
    "чек счет документ документы накладная квитанция договор акт фото фотография ссылка код курьер заказ "
    "доставка посылка товар корзина оплата платеж покупка подарок возврат отзыв бонус карта чат-бот бот "
    "адрес профиль домофон дверь подъезд пакет размер цвет "
    "receipt invoice bill order delivery package parcel item cart payment refund code link photo review"
)
# Words that say where or when, not what: «не пишите мне в ватсап» still refuses.
SETTING = _set(
    "ватсап вотсап whatsapp вацап телеграм почта номер телефон раз день вечер ночь утро время выходной "
    "праздник год месяц неделя сюда тут здесь больше никогда пока впредь вообще"
)
# A refusal limited in time («не пишите по выходным», «не звоните до 10 утра») may be about when, not
# whether: unsure.
TIMES = _set(
    "вечер ночь утро выходной праздник суббота воскресенье рано поздно раньше позже часто night morning "
    "evening weekend weekends early late"
)
ME = _set("я мы мой наш me us my our i myself")
NUMBER = _set("номер телефон контакт данные number phone contact details data")

NEGATION = _set("не ни нет never not no")
# Words that may stand between a negation and its verb: «не надо мне больше писать».
GAP = _set(
    "надо нада нужно стоит можно мне меня нам нас больше более уже вы вам ничего никогда так сюда пожалуйста от "
    "прошу просить впредь вообще лучше этот это мой номер на do please ever again anymore any more to me us "
    "want хотеть желать нужный еще"
)
STOP_VERBS = _set(
    "прекратить прекращать перестать переставать хватить остановить остановиться завязать заканчивать "
    "закончить кончать кончить stop quit cease halt enough"
)
REMOVE = _set(
    "убрать убирать удалить удалять исключить исключать вычеркнуть вычеркивать отписать отписывать снять "
    "снимать вывести выводить стереть выписать отключить отключать отменить отменять "
    "remove delete take drop erase exclude cancel"
)
REFUSE = _set("отказаться отказываться отписаться отписываться")
UNSUBSCRIBE = _set("отписаться отписываться отписать отписывать unsubscribe unsub optout")
ANNOYED = _set("надоесть надоедать достать задолбать замучить заколебать достать бесить зае")
LEAVE_ALONE = _set("отстать отвязаться отцепиться")
NOT_SIGNED_UP = _set("подписываться подписаться соглашаться согласиться давать дать оставлять оставить sign agree")
SUBSCRIBE = _set("подписать подписывать подписаться подписываться subscribe resubscribe")
RESUME = _set("возобновить возобновлять вернуть возвращать включить resume restart")
AGAIN = _set("снова опять обратно заново again back")
OTHER_LIST = _set("другой чужой иной other another")
WHY = _set("зачем почему why")
WHERE_FROM = _set("откуда где кто how where who")
NUMBER_SOURCE = _set("взять брать дать достать получить найти get got take give gave")
STOP_WORDS = _set("стоп stop стопэ")
# Words that add nothing to a refusal: «всё, стоп», «стоп уже!!!», «Stop pls».
EMPTY = _set(
    "всё все весь уже ну же а и пожалуйста пожалуста плиз пж пжл пжлст спасибо спс блин нафиг нахрен "
    "please pls plz thanks thank thx now ok okay just all"
)
CONJUNCTIONS = _set("а но и или лучше зато потому если когда but and or instead rather")
QUESTION_WORDS = _set(
    "как сколько когда где почему зачем что кто какой можно ли куда чем "
    "how what when where why who which can could do does is are will would"
)
THIS = _set("это этот то такой it this that these those")
SPAM_WORDS = _set("спам spam")
# «Заблокирую вас», «пожалуюсь»: a threat to block or report is a refusal in all but name.
THREATS = _set("заблокировать блокировать пожаловаться жаловаться")
UNINTERESTED = _set(
    "интересный интересно неинтересный неинтересно интересовать актуальный актуально interested interesting"
)
HELP_WHO = _set("кто who")
HELP_WHAT = _set("что what")
YOU = _set("вы ты вас you")
# English words that carry no object: "please don't text me any more", "stop sending these to me".
ENGLISH_GLUE = _set(
    "the a an to from of for me us my any more anymore again this these that those your you about with at on in "
    "by do please ever now already so just i we it is are am be all off out up here there"
)
